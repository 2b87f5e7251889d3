#!/usr/bin/env bash
# Installs the system packages kyso's tests and demo need, if they are missing:
# SoftHSM2 (the test tokens), OpenSC (pkcs11-tool, an independent PKCS#11 client),
# OpenSSL (independent verification, and the OCSP responder in tests), curl and jq
# (the demo's copy-paste sequence).
# Safe to run again: it installs nothing when everything is there.
set -euo pipefail

missing=()
[ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null || missing+=(softhsm2)
command -v pkcs11-tool >/dev/null || missing+=(opensc)
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
command -v cc >/dev/null || missing+=(build-essential)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v cargo >/dev/null || { echo "install-deps: the Rust toolchain (cargo) is required" >&2; exit 1; }
