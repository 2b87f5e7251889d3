#!/usr/bin/env bash
# Fails when a committed test vector and its generator disagree: the vectors are made by
# code independent of kyso's (Python's hashlib), and the Rust tests compare against the
# committed files, so a drift here would make those tests check nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 proto/vectors/sim_codes.py | diff -u proto/vectors/sim-codes.txt - \
  || { echo "check-vectors: proto/vectors/sim-codes.txt differs from its generator" >&2; exit 1; }
echo "check-vectors: the committed vectors match their generators"
