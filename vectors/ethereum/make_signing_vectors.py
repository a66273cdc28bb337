"""Writes signing.json: Ethereum transactions, personal_sign messages and EIP-712 typed data
signed by eth-account (the reference Python implementation, MIT licence) with public test keys.

    .venv/bin/python vectors/ethereum/make_signing_vectors.py > vectors/ethereum/signing.json

Both sides sign deterministically (RFC 6979), so Custos must reproduce every signature byte
for byte, not only a signature that verifies.
"""
import hashlib
import json
import sys
from importlib.metadata import version

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

KEYS = ["0x" + hashlib.sha256(f"custos-ethereum-test-key-{i}".encode()).hexdigest() for i in range(3)]
# EIP-712's own example signs with keccak256("cow").
COW = "0xc85ef7d79691fe79573b1a7064c19c1a9819ebdbd1faaab1a8ec92344438aaf4"

TO = "0xc2F7E4D3b44Ec33a6a7f5d9fBAF5A0AAA5EAd388"
ACCESS = [{"address": TO, "storageKeys": ["0x" + "00" * 31 + "01", "0x" + "ab" * 32]},
          {"address": "0x000000000000000000000000000000000000dEaD", "storageKeys": []}]

TRANSACTIONS = [
    ("legacy-pre155", {"nonce": 0, "gasPrice": 20_000_000_000, "gas": 21000, "to": TO, "value": 10**18, "data": "0x"}),
    ("legacy-eip155", {"chainId": 1, "nonce": 9, "gasPrice": 20_000_000_000, "gas": 21000, "to": TO, "value": 10**18, "data": "0x"}),
    ("legacy-eip155-create", {"chainId": 1337, "nonce": 1, "gasPrice": 1, "gas": 300000, "value": 0,
                              "data": "0x6080604052348015600f57600080fd5b50603f80601d6000396000f3fe"}),
    ("legacy-eip155-big-chain", {"chainId": 2**40 + 7, "nonce": 2**63, "gasPrice": 2**200, "gas": 2**63 - 1, "to": TO,
                                 "value": 2**256 - 1, "data": "0x00"}),
    ("eip2930", {"type": 1, "chainId": 5, "nonce": 0, "gasPrice": 2_000_000_000, "gas": 50000, "to": TO, "value": 0,
                 "data": "0xa9059cbb", "accessList": ACCESS}),
    ("eip2930-empty-access-list", {"type": 1, "chainId": 11155111, "nonce": 3, "gasPrice": 7, "gas": 21000, "to": TO,
                                   "value": 1, "data": "0x", "accessList": []}),
    ("eip1559", {"type": 2, "chainId": 1, "nonce": 42, "maxPriorityFeePerGas": 1_500_000_000,
                 "maxFeePerGas": 30_000_000_000, "gas": 21000, "to": TO, "value": 12345678901234567890123, "data": "0x"}),
    ("eip1559-access-list", {"type": 2, "chainId": 137, "nonce": 0, "maxPriorityFeePerGas": 0, "maxFeePerGas": 0,
                             "gas": 100000, "to": TO, "value": 0, "data": "0x" + "ff" * 100, "accessList": ACCESS}),
    ("eip1559-create", {"type": 2, "chainId": 10, "nonce": 5, "maxPriorityFeePerGas": 1, "maxFeePerGas": 2,
                        "gas": 1_000_000, "value": 0, "data": "0x" + "60" * 80}),
]

MESSAGES = [b"", b"hello", "Grüße, Custos ✓".encode(), bytes(range(256)), b"\x19Ethereum Signed Message:\n5hello"]

MAIL = {
    "types": {
        "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                         {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"}, {"name": "contents", "type": "string"}],
    },
    "primaryType": "Mail",
    "domain": {"name": "Ether Mail", "version": "1", "chainId": 1,
               "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
    "message": {"from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
                "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
                "contents": "Hello, Bob!"},
}

# v4: arrays of structs, arrays of atomic types, nested arrays, negative integers, bytes.
NESTED = {
    "types": {
        "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                         {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"},
                         {"name": "salt", "type": "bytes32"}],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallets", "type": "address[]"}],
        "Group": [{"name": "name", "type": "string"}, {"name": "members", "type": "Person[]"}],
        "Order": [{"name": "maker", "type": "Person"}, {"name": "groups", "type": "Group[2]"},
                  {"name": "amount", "type": "uint256"}, {"name": "delta", "type": "int128"},
                  {"name": "small", "type": "int8"}, {"name": "flag", "type": "bool"},
                  {"name": "tag", "type": "bytes4"}, {"name": "blob", "type": "bytes"},
                  {"name": "matrix", "type": "uint16[][]"}, {"name": "hashes", "type": "bytes32[3]"}],
    },
    "primaryType": "Order",
    "domain": {"name": "Custos Exchange", "version": "2", "chainId": 137,
               "verifyingContract": "0x000000000000000000000000000000000000dEaD", "salt": "0x" + "5a" * 32},
    "message": {
        "maker": {"name": "Alice", "wallets": ["0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", TO]},
        "groups": [{"name": "empty", "members": []},
                   {"name": "two", "members": [{"name": "Bob", "wallets": []}, {"name": "Eve", "wallets": [TO]}]}],
        "amount": 10**30, "delta": -(2**127), "small": -1, "flag": True, "tag": "0xdeadbeef",
        "blob": "0x" + "01" * 70, "matrix": [[1, 2, 65535], [], [7]], "hashes": ["0x" + "11" * 32, "0x" + "22" * 32, "0x" + "33" * 32],
    },
}

# No EIP712Domain among the types: it is inferred from the domain's members.
INFERRED = {
    "types": {"Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                         {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                         {"name": "deadline", "type": "uint256"}]},
    "primaryType": "Permit",
    "domain": {"name": "USD Coin", "version": "2", "chainId": 1, "verifyingContract": "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"},
    "message": {"owner": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", "spender": TO, "value": "1000000",
                "nonce": 0, "deadline": "0xffffffff"},
}

def hexint(value):
    return "0x" + format(value, "x")

def main():
    out = {"generator": f"eth-account {version('eth-account')}", "keys": KEYS + [COW], "transactions": [], "personal_sign": [], "typed_data": []}
    for index, (kind, tx) in enumerate(TRANSACTIONS):
        key = KEYS[index % len(KEYS)]
        signed = Account.sign_transaction(tx, key)
        # Half the vectors give quantities as 0x strings, as JSON-RPC writes them.
        written = {k: (hexint(v) if isinstance(v, int) and index % 2 else v) for k, v in tx.items()}
        if kind == "legacy-pre155":
            written["chainId"] = None
        out["transactions"].append({
            "kind": kind, "key": key, "transaction": written,
            "raw": signed.raw_transaction.hex(), "hash": signed.hash.hex(),
            "sender": Account.from_key(key).address, "v": signed.v, "r": hexint(signed.r), "s": hexint(signed.s),
        })
    for index, message in enumerate(MESSAGES):
        key = KEYS[index % len(KEYS)]
        signed = Account.sign_message(encode_defunct(primitive=message), key)
        out["personal_sign"].append({"key": key, "message": message.hex(), "hash": signed.message_hash.hex(),
                                     "signature": signed.signature.hex(), "signer": Account.from_key(key).address})
    for name, data, key in [("eip712-mail", MAIL, COW), ("v4-nested-arrays", NESTED, KEYS[1]), ("inferred-domain", INFERRED, KEYS[2])]:
        signable = encode_typed_data(full_message=data)
        signed = Account.sign_message(signable, key)
        out["typed_data"].append({"name": name, "key": key, "data": data, "domain_separator": signable.header.hex(),
                                  "message_hash": signable.body.hex(), "hash": signed.message_hash.hex(),
                                  "signature": signed.signature.hex(), "signer": Account.from_key(key).address})
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")

if __name__ == "__main__":
    main()
