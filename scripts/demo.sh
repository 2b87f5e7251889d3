#!/usr/bin/env bash
# kyso demo: builds everything, makes the test PKI and one SoftHSM token per test person
# in ./data, starts the gateway (SQLite) and the signing agent, and prints how to register
# and log in with a token. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cargo build --workspace --bins --locked
bin=$PWD/target/debug
data=$PWD/${KYSO_DATA:-data}
gateway_port=${KYSO_DEMO_PORT:-8080}
agent_port=${KYSO_DEMO_AGENT_PORT:-18765}
origin="http://localhost:$gateway_port"

rm -rf "$data"
mkdir -p "$data"
"$bin/kyso-certs" generate --out "$data/pki"
"$bin/kyso-fixtures" provision --pki "$data/pki" --out "$data/tokens"
export SOFTHSM2_CONF="$data/tokens/softhsm2.conf"
echo 12345678 > "$data/pin"

cat > "$data/kyso.toml" <<TOML
listen = "127.0.0.1:$gateway_port"
public_origin = "$origin"
database_url = "sqlite://$data/kyso.db"
[trust]
anchors = ["pki/ca/root/cert.pem"]
intermediates = ["pki/ca/vnpt/cert.pem", "pki/ca/viettel/cert.pem"]
[policy]
revocation = "off"
TOML

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping kyso-gateway and kyso-shim…"
  kill -INT "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  echo "stopped."
}
trap stop INT TERM EXIT

"$bin/kyso-gateway" serve --config "$data/kyso.toml" &
pids+=($!)
"$bin/kyso-shim" serve --listen "127.0.0.1:$agent_port" --allow-origin "$origin" --pin-file "$data/pin" &
pids+=($!)
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$gateway_port/readyz" >/dev/null && break
  sleep 0.2
done

cat <<TXT

kyso demo is running.
  gateway  http://127.0.0.1:$gateway_port   (public origin $origin, database $data/kyso.db)
  agent    http://127.0.0.1:$agent_port      (tokens: $bin/kyso-shim list; PIN in $data/pin)
Test persons and their expected verdicts: $data/pki/manifest.json

Register the citizen on token "citizen-cmnd-cccd" (paste into another terminal):

  export SOFTHSM2_CONF=$SOFTHSM2_CONF GW=http://127.0.0.1:$gateway_port
  C=\$(curl -s -X POST \$GW/v1/challenges -H 'content-type: application/json' -d '{"purpose":"register"}')
  TOKEN=\$(KYSO_SHIM_PIN=12345678 $bin/kyso-shim authenticate --origin $origin --nonce "\$(jq -r .nonce <<<"\$C")" --token citizen-cmnd-cccd)
  P=\$(curl -s -X POST \$GW/v1/registrations/token -H 'content-type: application/json' \\
        -d "{\\"challenge_id\\":\$(jq .challenge_id <<<"\$C"),\\"auth_token\\":\$TOKEN}")
  jq .subject <<<"\$P"          # the identity read from the token: CCCD 079195001234, alias CMND
  curl -s -X POST "\$GW/v1/registrations/\$(jq -r .ticket <<<"\$P")/confirm" -H 'content-type: application/json' -d '{}' | jq

Log in with the same token:

  C=\$(curl -s -X POST \$GW/v1/challenges -H 'content-type: application/json' -d '{"purpose":"login"}')
  TOKEN=\$(KYSO_SHIM_PIN=12345678 $bin/kyso-shim authenticate --origin $origin --nonce "\$(jq -r .nonce <<<"\$C")" --token citizen-cmnd-cccd)
  S=\$(curl -s -X POST \$GW/v1/sessions/token -H 'content-type: application/json' \\
        -d "{\\"challenge_id\\":\$(jq .challenge_id <<<"\$C"),\\"auth_token\\":\$TOKEN}")
  curl -s \$GW/v1/accounts/me -H "Authorization: Bearer \$(jq -r .session_token <<<"\$S")" | jq

The agent's HTTP API (what the web page will call) signs the same way:
  curl -s -X POST http://127.0.0.1:$agent_port/v1/authenticate -H "Origin: $origin" \\
       -H 'content-type: application/json' -d '{"challenge_nonce":"<nonce>","certificate_id":"<from /v1/certificates>"}'
Try other persons (enterprise-mst needs {"email":"…"} at confirm; expired, revoked… see the manifest).

Press Ctrl-C to stop.
TXT
wait "${pids[@]}"
