#!/usr/bin/env bash
# kyso demo: builds everything, makes the test PKI and one SoftHSM token per test person
# in ./data, and shows a token signing a gateway-style challenge.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cargo build --workspace --bins --release --locked
bin=target/release
data=${KYSO_DATA:-data}
rm -rf "$data/pki" "$data/tokens"
"$bin/kyso-certs" generate --out "$data/pki"
"$bin/kyso-fixtures" provision --pki "$data/pki" --out "$data/tokens"
export SOFTHSM2_CONF="$PWD/$data/tokens/softhsm2.conf"

nonce=$(head -c 32 /dev/urandom | base64)
echo
echo "== A citizen's token signs a challenge (Web eID 1.0 token):"
KYSO_SHIM_PIN=12345678 "$bin/kyso-shim" authenticate --origin https://dichvucong.test --nonce "$nonce" --token citizen-cccd
echo
echo "== What the gateway reads from that person's certificate:"
"$bin/kyso-gateway" inspect "$data/tokens/certs/citizen-cccd.pem"
cat <<TXT

Try it yourself:
  export SOFTHSM2_CONF=$SOFTHSM2_CONF
  $bin/kyso-shim list
  $bin/kyso-shim authenticate --origin https://dichvucong.test --nonce "\$(head -c 32 /dev/urandom | base64)" --token enterprise-mst
      (PIN 12345678; or set KYSO_SHIM_PIN)
  $bin/kyso-gateway inspect $data/pki/persons/enterprise-branch/cert.pem
Test persons and the verdict the gateway must give each: $data/pki/manifest.json
TXT
