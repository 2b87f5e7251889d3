#!/usr/bin/env bash
# Checks the layering design §1 promises: the verification core (kyso-verify) has no async
# runtime, HTTP or database in its normal dependency tree, so the agent, the fuzz targets
# and the test PKI can use it without the gateway; and the agent does not depend on the
# gateway. Fails naming the offending crate.
set -euo pipefail
cd "$(dirname "$0")/.."

forbidden='^(tokio|axum|hyper|hyper-util|sqlx|sqlx-core|reqwest|tower)$'
status=0
for krate in kyso-verify kyso-proto; do
  found=$(cargo tree -p "$krate" -e normal --prefix none --locked | awk '{print $1}' | sort -u | grep -E "$forbidden" || true)
  if [ -n "$found" ]; then
    echo "check-layers: $krate depends on $(echo "$found" | tr '\n' ' ')" >&2
    status=1
  fi
done
for krate in kyso-shim kyso-certs kyso-fixtures kyso-mssp-sim; do
  if cargo tree -p "$krate" -e normal --prefix none --locked | awk '{print $1}' | grep -qx kyso-gateway; then
    echo "check-layers: $krate depends on kyso-gateway" >&2
    status=1
  fi
done
[ "$status" = 0 ] && echo "check-layers: kyso-verify and kyso-proto have no runtime, HTTP or database; no tool depends on the gateway"
exit "$status"
