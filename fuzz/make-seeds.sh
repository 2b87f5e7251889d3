#!/usr/bin/env bash
# Regenerates fuzz/seeds/ (the seed corpora and the ocsp_response target's fixtures) from a
# freshly generated test PKI, the shared Web eID vector and OpenSSL.
#
#   fuzz/make-seeds.sh            # from the repository root or from fuzz/
#
# Needs: openssl (3.x), base64, the kyso-certs binary (KYSO_CERTS, default
# target/debug/kyso-certs; built with `cargo build -p kyso-certs` when missing), and the
# shared vectors (SHARED, default ../shared or /work/shared). The PKI goes to PKI (default
# /tmp/fuzz-pki), which is overwritten.
#
# Every run makes new keys and new times, so the seeds and fixtures change together: the
# ocsp_response target embeds seeds/fixtures/{issuer.der,leaf.der,verify-at.txt}, and its
# seed responses verify against those at that time. Rebuild the target after a run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
seeds="$here/seeds"
PKI="${PKI:-/tmp/fuzz-pki}"
KYSO_CERTS="${KYSO_CERTS:-$root/target/debug/kyso-certs}"
if [[ -z "${SHARED:-}" ]]; then
    for candidate in "$root/../shared" /work/shared; do
        if [[ -d "$candidate/vectors/webeid" ]]; then SHARED="$candidate"; break; fi
    done
fi
: "${SHARED:?set SHARED to the folder holding vectors/webeid}"
vector="$SHARED/vectors/webeid"

if [[ ! -x "$KYSO_CERTS" ]]; then
    (cd "$root" && cargo build -p kyso-certs)
fi

# 1. The test PKI.
"$KYSO_CERTS" generate --out "$PKI" >/dev/null

rm -rf "$seeds/identity" "$seeds/ocsp_response" "$seeds/auth_token" "$seeds/fixtures"
mkdir -p "$seeds/identity" "$seeds/ocsp_response" "$seeds/auth_token" "$seeds/fixtures"

# 2. identity: every certificate of the PKI, and the Estonian test CA (P-521).
for d in "$PKI"/persons/*/; do
    cp "$d/cert.der" "$seeds/identity/person-$(basename "$d").der"
done
for d in "$PKI"/ca/*/; do
    cp "$d/cert.der" "$seeds/identity/ca-$(basename "$d").der"
done
cp "$vector/TEST_of_ESTEID2018.cer" "$seeds/identity/esteid2018-ca.der"

# crl: every CA's CRL as DER, and one as PEM (some CAs publish PEM). phone/ is hand-written
# and not regenerated.
rm -rf "$seeds/crl"
mkdir -p "$seeds/crl"
for d in "$PKI"/ca/*/; do
    [ -f "$d/crl.der" ] && cp "$d/crl.der" "$seeds/crl/$(basename "$d").der"
done
cp "$PKI/ca/vnpt/crl.pem" "$seeds/crl/vnpt.pem"

# 3. ocsp_response: real answers from `openssl ocsp` acting as the VNPT CA's responder.
ca="$PKI/ca/vnpt"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
request() { # person -> $work/<person>.req (with openssl's random nonce)
    openssl ocsp -issuer "$ca/cert.pem" -cert "$PKI/persons/$1/cert.pem" \
        -reqout "$work/$1.req" >/dev/null
}
respond() { # request-name output-name [extra responder options...]
    local req="$1" out="$2"
    shift 2
    openssl ocsp -index "$ca/index.txt" -CA "$ca/cert.pem" -nmin 5 \
        -reqin "$work/$req.req" -respout "$seeds/ocsp_response/$out.der" "$@" >/dev/null 2>&1
}
delegated=(-rsigner "$ca/ocsp.pem" -rkey "$ca/ocsp-key.pem")
for p in citizen-cccd revoked unknown-to-ca; do request "$p"; done
respond citizen-cccd good "${delegated[@]}"
respond revoked revoked "${delegated[@]}"
respond unknown-to-ca unknown "${delegated[@]}"
respond citizen-cccd good-signed-by-ca -rsigner "$ca/cert.pem" -rkey "$ca/key.pem"
respond citizen-cccd good-no-certs "${delegated[@]}" -resp_no_certs

# A regression input: producedAt "99991231235959-0100" is a valid-looking GeneralizedTime
# whose UTC value lies past year 9999. yasna 0.6's read_generalized_time panics on it ("local
# datetime out of valid range"); ocsp.rs reads times by hand since commit 0c44393. 91 bytes.
xxd -r -p >"$seeds/ocsp_response/regression-produced-at-past-9999.der" <<'HEX'
30590a0100a054305206092b060105050730010104453043302fa216041400000000000000000000000000000000
00000000181339393939313233313233353935392d303130303000300d06092a864886f70d01010b0500030100
HEX

# The target's fixtures: the issuer, the leaf whose CertID it asks about, and a time one
# minute after the answers were produced (inside thisUpdate .. nextUpdate).
cp "$ca/cert.der" "$seeds/fixtures/issuer.der"
cp "$PKI/persons/citizen-cccd/cert.der" "$seeds/fixtures/leaf.der"
echo $(( $(date -u +%s) + 60 )) >"$seeds/fixtures/verify-at.txt"

# 4. auth_token: the Web eID vector (ES384), an RS256 token from the PKI whose signature
#    verifies for the target's origin and nonce, a few refusals, and a raw DER certificate
#    (the target also feeds the raw input as the token's certificate).
origin="https://kyso.test"                              # ORIGIN in auth_token.rs
nonce="MTIzNDU2NzgxMjM0NTY3ODEyMzQ1Njc4MTIzNDU2Nzg="    # NONCE in auth_token.rs
cp "$vector/valid-auth-token.json" "$seeds/auth_token/webeid-vector-es384.json"
person="$PKI/persons/citizen-cccd"
{
    printf '%s' "$origin" | openssl dgst -sha256 -binary
    printf '%s' "$nonce" | openssl dgst -sha256 -binary
} >"$work/signed-data"
sig="$(openssl dgst -sha256 -sign "$person/key.pem" "$work/signed-data" | base64 -w0)"
cert="$(base64 -w0 <"$person/cert.der")"
token() { # format algorithm certificate signature
    printf '{"format":"%s","unverifiedCertificate":"%s","algorithm":"%s","signature":"%s","appVersion":"https://web-eid.eu/web-eid-app/releases/2.5.0"}' \
        "$1" "$3" "$2" "$4"
}
token web-eid:1.0 RS256 "$cert" "$sig" >"$seeds/auth_token/pki-rs256.json"
token web-eid:1.0 PS256 "$cert" "$sig" >"$seeds/auth_token/pki-ps256-wrong-padding.json"
token web-eid:2.0 RS256 "$cert" "$sig" >"$seeds/auth_token/wrong-format.json"
token web-eid:1.0 HS256 "$cert" "$sig" >"$seeds/auth_token/unknown-algorithm.json"
token web-eid:1.0 RS256 "${cert:0:40}*" "$sig" >"$seeds/auth_token/bad-base64.json"
cp "$PKI/persons/citizen-ec/cert.der" "$seeds/auth_token/raw-cert-ec.der"

# 5. jose: a portal's JWK Set (an EC P-256 and an RSA-2048 key, made by OpenSSL), a
#    newline, and a client assertion: ES256 and RS256 ones that verify (signed with
#    `openssl dgst`; ES256 signatures converted from DER to r || s), and refusals — alg
#    none, HS256, a kid no key has, a token with no JWK Set.
mkdir -p "$seeds/jose"
rm -f "$seeds/jose"/*
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ec.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa.pem" 2>/dev/null
# The EC point's x and y: the last 64 bytes of the DER public key.
ec_xy="$(openssl pkey -in "$work/ec.pem" -pubout -outform DER | tail -c 64 | xxd -p -c 64)"
ec_x="$(printf '%s' "${ec_xy:0:64}" | xxd -r -p | b64url)"
ec_y="$(printf '%s' "${ec_xy:64:64}" | xxd -r -p | b64url)"
rsa_n="$(openssl rsa -in "$work/rsa.pem" -noout -modulus 2>/dev/null | cut -d= -f2 | xxd -r -p | b64url)"
jwks="{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec\",\"x\":\"$ec_x\",\"y\":\"$ec_y\"},{\"kty\":\"RSA\",\"kid\":\"rsa\",\"n\":\"$rsa_n\",\"e\":\"AQAB\"}]}"
claims="$(printf '{"iss":"portal-k","sub":"portal-k","aud":"https://kyso.test/oidc/token","jti":"j1","exp":4102444800}' | b64url)"
jws() { # alg kid key → a compact JWS signed with key (ES256 as r || s)
    local input sig
    input="$(printf '{"alg":"%s","kid":"%s"}' "$1" "$2" | b64url).$claims"
    if [[ "$1" == ES256 ]]; then
        # DER ECDSA-Sig-Value → the two 32-byte integers, left-padded.
        sig="$(printf '%s' "$input" | openssl dgst -sha256 -sign "$3" | openssl asn1parse -inform DER \
            | awk -F: '/INTEGER/ {print $NF}' | while read -r v; do printf '%064s' "$v" | tr ' ' 0; done \
            | xxd -r -p | b64url)"
    else
        sig="$(printf '%s' "$input" | openssl dgst -sha256 -sign "$3" | b64url)"
    fi
    printf '%s.%s' "$input" "$sig"
}
printf '%s\n%s' "$jwks" "$(jws ES256 ec "$work/ec.pem")" >"$seeds/jose/es256-verifies"
printf '%s\n%s' "$jwks" "$(jws RS256 rsa "$work/rsa.pem")" >"$seeds/jose/rs256-verifies"
printf '%s\n%s' "$jwks" "$(jws ES256 nobody "$work/ec.pem")" >"$seeds/jose/unknown-kid"
printf '%s\n%s.%s.' "$jwks" "$(printf '{"alg":"none"}' | b64url)" "$claims" >"$seeds/jose/alg-none"
printf '%s\n%s.%s.%s' "$jwks" "$(printf '{"alg":"HS256"}' | b64url)" "$claims" "$(printf 'mac' | b64url)" >"$seeds/jose/hs256"
printf '%s' "$(jws ES256 ec "$work/ec.pem")" >"$seeds/jose/no-jwks"

echo "seeds written to $seeds:"
for d in "$seeds"/*/; do
    printf '  %-14s %3d files, %6d bytes\n' "$(basename "$d")" \
        "$(find "$d" -type f | wc -l)" "$(cat "$d"/* | wc -c)"
done
