#!/usr/bin/env bash
# Checks the layering design §1 promises: the verification core (kyso-verify) has no async
# runtime, HTTP or database in its normal dependency tree, so the agent, the fuzz targets
# and the test PKI can use it without the gateway; and the agent does not depend on the
# gateway; and no import circles between a crate's modules. Fails naming the offender.
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
[ "$status" = 0 ] || exit "$status"
echo "check-layers: kyso-verify and kyso-proto have no runtime, HTTP or database; no tool depends on the gateway"

# No import circles between the top-level modules of a crate (`use crate::a` in module b
# and `use crate::b` in module a). Comments do not count.
python3 - <<'PY' 
import os, re, sys
bad = []
for crate in ["verify", "gateway", "edge", "pkcs11-shim", "mssp-sim", "proto", "certs"]:
    root = os.path.join(crate, "src")
    deps = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(folder, name)
            top = os.path.relpath(path, root).split(os.sep)[0].removesuffix(".rs")
            if top in ("lib", "main"):
                continue
            code = "\n".join(l for l in open(path, encoding="utf-8") if not l.lstrip().startswith("//"))
            for used in re.findall(r"crate::(\w+)", code):
                if used != top:
                    deps.setdefault(top, set()).add(used)
    seen = set()
    for a, targets in deps.items():
        for b in targets:
            if a in deps.get(b, ()) and (b, a) not in seen:
                seen.add((a, b))
                bad.append(f"{crate}: {a} <-> {b}")
if bad:
    print("check-layers: import circles:\n  " + "\n  ".join(bad), file=sys.stderr)
    sys.exit(1)
print("check-layers: no import circles between modules")
PY
