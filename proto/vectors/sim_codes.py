#!/usr/bin/env python3
"""Computes the signing-SIM verification codes in sim-codes.txt with Python's hashlib,
independently of kyso's Rust code (design §3):

    h = SHA256(SHA256(origin) || SHA256(nonce))
    code = ((h[0] & 0xFC) << 5) | (h[31] & 0x7F), printed as four digits

Run from anywhere: `python3 proto/vectors/sim_codes.py > proto/vectors/sim-codes.txt`.
`scripts/check-vectors.sh` fails when the committed file and this script disagree, and
`kyso-proto`'s tests check the Rust code against the committed file."""

import hashlib

CASES = [
    ("https://dichvucong.test", "bm9uY2U="),
    ("https://dichvucong.gov.vn", "q2Zlx1BNyvE4ZC0Yb0Q2dPbu7zj6M0m3X9j1kUyGZ+8="),
    ("https://dichvucong.gov.vn", "q2Zlx1BNyvE4ZC0Yb0Q2dPbu7zj6M0m3X9j1kUyGZ+9="),
    ("https://dvc.hanoi.gov.vn", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ("https://dvc.hanoi.gov.vn:8443", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ("http://localhost:8080", "//////////////////////////////////////////8="),
    ("https://cổng.example", "nonce with spaces"),
    ("", ""),
]


def code(origin: str, nonce: str) -> str:
    h = hashlib.sha256(
        hashlib.sha256(origin.encode()).digest() + hashlib.sha256(nonce.encode()).digest()
    ).digest()
    return "%04d" % (((h[0] & 0xFC) << 5) | (h[31] & 0x7F))


if __name__ == "__main__":
    print("# origin<TAB>nonce<TAB>code — made by sim_codes.py; do not edit by hand")
    for origin, nonce in CASES:
        print(f"{origin}\t{nonce}\t{code(origin, nonce)}")
