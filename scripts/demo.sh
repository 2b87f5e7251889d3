#!/usr/bin/env bash
# kyso demo: builds everything, makes the test PKI and one SoftHSM token per test person
# in ./data, starts the gateway (SQLite, revocation checked against OpenSSL OCSP
# responders for the test CAs and the root), the signing agent and the MSSP simulator, and prints how
# the registration page's address first, then how to register and log in from a terminal
# with a token and with a signing SIM. Ctrl-C stops them all.
#
# Settings (the demo's own KYSO_DEMO_* variables): KYSO_DEMO_DATA (or KYSO_DATA), the
# folder for everything it makes, absolute or relative (default ./data);
# KYSO_DEMO_PORT, KYSO_DEMO_AGENT_PORT, KYSO_DEMO_SIM_PORT, KYSO_DEMO_OCSP_VNPT_PORT,
# KYSO_DEMO_OCSP_VIETTEL_PORT, KYSO_DEMO_OCSP_ROOT_PORT; KYSO_DEMO_BIN, prebuilt binaries to use instead of building.
# Every program is checked to be up; if one is not, the demo stops with its message.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${KYSO_DEMO_BIN:-}" ]; then
  bin=$KYSO_DEMO_BIN
else
  ./scripts/install-deps.sh
  cargo build --workspace --bins --locked
  bin=$PWD/target/debug
fi
data=${KYSO_DEMO_DATA:-${KYSO_DATA:-data}}
case "$data" in
  /*) ;;
  *) data=$PWD/$data ;;
esac
gateway_port=${KYSO_DEMO_PORT:-8080}
agent_port=${KYSO_DEMO_AGENT_PORT:-18765}
sim_port=${KYSO_DEMO_SIM_PORT:-18990}
ocsp_vnpt_port=${KYSO_DEMO_OCSP_VNPT_PORT:-18981}
ocsp_viettel_port=${KYSO_DEMO_OCSP_VIETTEL_PORT:-18982}
ocsp_root_port=${KYSO_DEMO_OCSP_ROOT_PORT:-18983}
ap_secret=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
origin="http://localhost:$gateway_port"

rm -rf "$data"
mkdir -p "$data/logs"
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
# OCSP from the test CAs' responders below (the root's answers about the two provider
# CAs, which are asked about too); the CRL fallback is not served in the demo.
revocation = "ocsp-crl"
[[revocation.issuers]]
certificate = "pki/ca/root/cert.pem"
ocsp_url = "http://127.0.0.1:$ocsp_root_port/"
[[revocation.issuers]]
certificate = "pki/ca/vnpt/cert.pem"
ocsp_url = "http://127.0.0.1:$ocsp_vnpt_port/"
[[revocation.issuers]]
certificate = "pki/ca/viettel/cert.pem"
ocsp_url = "http://127.0.0.1:$ocsp_viettel_port/"
[web]
agent_url = "http://127.0.0.1:$agent_port"
[sim]
provider_url = "http://127.0.0.1:$sim_port"
ap_id = "kyso-demo"
display_prefix = "Cổng DVC (demo)"
TOML
cat > "$data/mssp-sim.toml" <<TOML
listen = "127.0.0.1:$sim_port"
pki = "pki"
pin = "1234"
[[ap]]
id = "kyso-demo"
secret = "$ap_secret"
TOML

pids=()
ocsp_pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping kyso-gateway, kyso-shim, kyso-mssp-sim and the OCSP responders…"
  # Our programs stop gracefully on SIGINT; openssl, started in the background of a
  # script, ignores SIGINT, so it gets SIGTERM.
  kill -INT "${pids[@]}" 2>/dev/null || true
  kill -TERM "${ocsp_pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  echo "stopped."
}
trap stop INT TERM EXIT

# up NAME PID PROBE...: waits until PROBE succeeds; if NAME exits or takes too long,
# prints its log and stops the demo with a non-zero exit.
up() {
  local name=$1 pid=$2
  shift 2
  for _ in $(seq 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "demo: $name did not start:" >&2
      cat "$data/logs/$name.log" >&2
      exit 1
    fi
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  echo "demo: $name did not come up in 20 s:" >&2
  cat "$data/logs/$name.log" >&2
  exit 1
}

# A TCP connection to 127.0.0.1:PORT succeeds.
listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

for ca in root vnpt viettel; do
  port_var="ocsp_${ca}_port"
  openssl ocsp -index "$data/pki/ca/$ca/index.txt" -CA "$data/pki/ca/$ca/cert.pem" \
    -rsigner "$data/pki/ca/$ca/ocsp.pem" -rkey "$data/pki/ca/$ca/ocsp-key.pem" \
    -port "${!port_var}" -nmin 5 -ignore_err >"$data/logs/ocsp-$ca.log" 2>&1 &
  pids+=($!)
  ocsp_pids+=($!)
  up "ocsp-$ca" $! listening "${!port_var}"
done
"$bin/kyso-mssp-sim" serve --config "$data/mssp-sim.toml" >/dev/null 2>"$data/logs/kyso-mssp-sim.log" &
pids+=($!)
up kyso-mssp-sim $! curl -sf --max-time 2 "http://127.0.0.1:$sim_port/healthz"
KYSO_SIM__AP_SECRET="\"$ap_secret\"" "$bin/kyso-gateway" serve --config "$data/kyso.toml" \
  >/dev/null 2>"$data/logs/kyso-gateway.log" &
pids+=($!)
up kyso-gateway $! curl -sf --max-time 2 "http://127.0.0.1:$gateway_port/readyz"
"$bin/kyso-shim" serve --listen "127.0.0.1:$agent_port" --allow-origin "$origin" --pin-file "$data/pin" --unattended \
  >/dev/null 2>"$data/logs/kyso-shim.log" &
pids+=($!)
up kyso-shim $! curl -sf --max-time 2 -H "Origin: $origin" "http://127.0.0.1:$agent_port/v1/status"

cat <<TXT

kyso demo is running. Open the registration page in a browser:

  $origin/

  (Đăng ký → Công dân → USB ký số picks a token through the agent, whose PIN comes from
  $data/pin; SIM ký số takes a test phone number, e.g. 0913000001, which answers by itself.)

  gateway  http://127.0.0.1:$gateway_port   (public origin $origin, database $data/kyso.db)
  agent    http://127.0.0.1:$agent_port      (tokens: $bin/kyso-shim list; PIN in $data/pin)
  MSSP     http://127.0.0.1:$sim_port      (signing-SIM simulator; phones below)
  OCSP     http://127.0.0.1:$ocsp_vnpt_port/ (VNPT test CA), http://127.0.0.1:$ocsp_viettel_port/ (Viettel test CA), http://127.0.0.1:$ocsp_root_port/ (the root, about the two CAs)
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
The "revoked" token is refused as CERT_REVOKED by the VNPT responder.

Register with a signing SIM: open the phone of +84912000002 (Đặng Quốc Huy) in a browser,
  http://127.0.0.1:$sim_port/phone/+84912000002
then start the request and wait for the result (confirm on the phone page with PIN 1234,
or from a terminal: $bin/kyso-mssp-sim phone +84912000002 confirm --pin 1234 --url http://127.0.0.1:$sim_port):

  S=\$(curl -s -X POST \$GW/v1/registrations/sim -H 'content-type: application/json' -d '{"phone":"0912000002"}')
  jq .verification_code <<<"\$S"     # the same code is on the phone
  R=\$(curl -s "\$GW/v1/registrations/sim/\$(jq -r .session_id <<<"\$S")?wait=30")
  jq .subject <<<"\$R"
  curl -s -X POST "\$GW/v1/registrations/\$(jq -r .ticket <<<"\$R")/confirm" -H 'content-type: application/json' -d '{}' | jq

Automatic test numbers answer by themselves (docs/mssp-simulator.md): +84913000001 signs,
+84913000002 refuses, +84913000004 is not enrolled, +84913000008 returns a bad signature…

Logs: $data/logs/. Press Ctrl-C to stop.
TXT
wait "${pids[@]}"
