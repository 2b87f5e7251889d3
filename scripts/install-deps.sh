#!/usr/bin/env bash
# Installs the system packages kyso's tests and demo need, if they are missing:
# SoftHSM2 (the test tokens), OpenSC (pkcs11-tool, an independent PKCS#11 client),
# OpenSSL (independent verification, and the OCSP responder in tests), curl and jq
# (the demo's copy-paste sequence), the PKCS#11 header for the PIN-lockout test module,
# Chromium with the Python packages the browser tests drive it with, and PostgreSQL
# with pgbouncer (the PostgreSQL store's tests; a server is started if none answers).
# Safe to run again: it installs nothing when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null || missing+=(softhsm2)
command -v pkcs11-tool >/dev/null || missing+=(opensc)
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
command -v cc >/dev/null || missing+=(build-essential)
[ -e /usr/include/p11-kit-1/p11-kit/pkcs11.h ] || missing+=(libp11-kit-dev)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v python3 >/dev/null || missing+=(python3 python3-pip)
command -v psql >/dev/null || missing+=(postgresql-client)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
# The OpenID Provider's relying party under test: Apache httpd with mod_auth_openidc.
[ -e /usr/lib/apache2/modules/mod_auth_openidc.so ] || missing+=(apache2 libapache2-mod-auth-openidc)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The packaged pgbouncer service is not ours: the tests start their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet pgbouncer 2>/dev/null; then
  systemctl stop pgbouncer || true
fi
# The PostgreSQL tests need a server (KYSO_TEST_POSTGRES; default the local one on
# 127.0.0.1:5432 with trust auth and a database `test`).
if [ -z "${KYSO_TEST_POSTGRES:-}" ] && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "install-deps: starting the local PostgreSQL"
  service postgresql start || pg_ctlcluster --skip-systemctl-redirect "$(ls /usr/lib/postgresql | sort -V | tail -1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if [ -z "${KYSO_TEST_POSTGRES:-}" ]; then
  psql -h 127.0.0.1 -U postgres -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test"
fi
command -v cargo >/dev/null || { echo "install-deps: the Rust toolchain (cargo) is required" >&2; exit 1; }
if ! python3 -c "import playwright, pytest, schemathesis, prometheus_client, authlib, joserfc, requests" 2>/dev/null; then
  echo "install-deps: installing the browser tests' Python packages"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-pip
  fi
  python3 -m pip install -q -r tests/browser/requirements.txt \
    || python3 -m pip install -q --break-system-packages -r tests/browser/requirements.txt
fi
