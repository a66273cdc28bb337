#!/usr/bin/env python3
"""Writes keccak256_pycryptodome.json: Keccak-256 digests from pycryptodome, an
implementation independent of ours, for the Swift tests to compare against.

Input of length L is bytes (i*31 + 7) & 0xff for i in 0..<L. Lengths 0...300 cross the
136-byte rate boundary twice; the 1 MiB case exercises the multi-block path.

Run: .venv/bin/python Tests/CustosCryptoTests/Fixtures/make_keccak256_fixture.py
"""
import json
import os

from Crypto.Hash import keccak


def message(length):
    return bytes((i * 31 + 7) & 0xFF for i in range(length))


def digest(data):
    h = keccak.new(digest_bits=256)
    h.update(data)
    return h.hexdigest()


def main():
    cases = [{"length": n, "digest": digest(message(n))} for n in range(301)]
    cases.append({"length": 1 << 20, "digest": digest(message(1 << 20))})
    out = {
        "generator": "pycryptodome Crypto.Hash.keccak, digest_bits=256",
        "input": "byte i = (i*31 + 7) & 0xff",
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keccak256_pycryptodome.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
