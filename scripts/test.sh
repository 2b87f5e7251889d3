#!/usr/bin/env bash
# Runs every check kyso has: formatting, clippy with warnings as errors, and every test
# (unit, integration, and end-to-end tests that start the real programs over SoftHSM).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cargo fmt --all -- --check
./scripts/check-layers.sh
./scripts/check-vectors.sh
cargo clippy --workspace --all-targets --locked -- -D warnings
# End-to-end tests run the workspace's binaries, so build them first.
cargo build --workspace --bins --locked
# Every refusal a test receives is noted there (tests/src/codes.rs); start empty.
rm -rf target/debug/codes-seen
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
# Every error code of the gateway and the agent was produced by some test over HTTP.
target/debug/kyso-codes-check
# The fuzz targets compile with libFuzzer linked, and every seed runs through its target.
cargo check --manifest-path fuzz/Cargo.toml --bins --locked --target-dir target/fuzz
cargo test --manifest-path fuzz/Cargo.toml --no-default-features --locked --target-dir target/fuzz
# The registration page in a real Chromium, served by the gateway just built.
python3 -m pytest tests/browser -q -p no:cacheprovider
