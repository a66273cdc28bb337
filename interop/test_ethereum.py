"""Ethereum accounts against eth-account (the Ethereum Foundation's Python signer): what Custos
signs, eth-account recovers to the account's address, and what eth-account signs, Custos
decodes to the same fields and sender. Both sign with RFC 6979 nonces, so for the same key
the raw transactions and signatures are the same bytes."""

from __future__ import annotations

import json
import os
import random

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def account_key(custos, alias: str = "wallet"):
    """An eth-account key imported into Custos as an ACCOUNTS key; returns eth-account's view."""
    local = Account.create()
    private = ec.derive_private_key(int.from_bytes(bytes(local.key), "big"), ec.SECP256K1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    custos.secrets.append(bytes(local.key).hex())
    custos.run("key", "import", "--tenant", custos.tenant, "--alias", alias, "--scheme", "ecdsa-secp256k1-keccak256",
               "--category", "ACCOUNTS", "--file", custos.file(pem, ".pem"))
    return local


def random_transactions(rng: random.Random, sender: str):
    to = Account.create().address
    base = {"nonce": rng.randrange(0, 2**32), "gas": rng.randrange(21000, 10**7), "to": to,
            "value": rng.randrange(0, 2**200), "data": "0x" + os.urandom(rng.randrange(0, 300)).hex()}
    access = [{"address": Account.create().address, "storageKeys": ["0x" + os.urandom(32).hex() for _ in range(rng.randrange(0, 3))]}]
    return [
        ("legacy-pre155", {**base, "gasPrice": rng.randrange(1, 10**12)}),
        ("legacy-eip155", {**base, "chainId": rng.randrange(1, 2**32), "gasPrice": rng.randrange(1, 10**12)}),
        ("eip2930", {**base, "type": 1, "chainId": rng.randrange(1, 2**32), "gasPrice": rng.randrange(1, 10**12), "accessList": access}),
        ("eip1559", {**base, "type": 2, "chainId": rng.randrange(1, 2**32), "maxPriorityFeePerGas": 10**9,
                     "maxFeePerGas": 10**9 + rng.randrange(0, 10**12), "accessList": access}),
        ("eip1559-create", {**{k: v for k, v in base.items() if k != "to"}, "type": 2, "chainId": 1,
                            "maxPriorityFeePerGas": 1, "maxFeePerGas": 2, "from": sender}),
    ]


def as_custos_json(tx: dict) -> str:
    written = dict(tx)
    written.setdefault("chainId", None)  # pre-EIP-155 is said, not implied
    return json.dumps(written)


def test_custos_transactions_recover_in_eth_account_and_match_its_bytes(custos):
    local = account_key(custos)
    listed = custos.run("eth", "accounts", "--tenant", custos.tenant, "--json").json()["accounts"]
    assert [(a["alias"], a["address"]) for a in listed] == [("wallet", local.address)]
    rng = random.Random(1559)
    for _ in range(3):
        for kind, tx in random_transactions(rng, local.address):
            for account in ("wallet", local.address):
                signed = custos.run("eth", "sign-tx", "--tenant", custos.tenant, "--account", account,
                                    "--tx", as_custos_json(tx), "--json").json()
                raw = bytes.fromhex(signed["raw"][2:])
                assert Account.recover_transaction(raw) == local.address, kind
                theirs = Account.sign_transaction({k: v for k, v in tx.items() if k != "from"}, local.key)
                assert raw == bytes(theirs.raw_transaction), kind
                assert signed["hash"] == "0x" + bytes(theirs.hash).hex()
                assert signed["from"] == local.address


def test_eth_account_transactions_decode_to_the_same_fields_and_sender(custos):
    rng = random.Random(2930)
    for _ in range(4):
        local = Account.create()
        for kind, tx in random_transactions(rng, local.address):
            tx = {k: v for k, v in tx.items() if k != "from"}
            signed = Account.sign_transaction(tx, local.key)
            raw = "0x" + bytes(signed.raw_transaction).hex()
            decoded = custos.run("eth", "decode-tx", raw, "--json").json()
            assert decoded["from"] == local.address, kind
            assert decoded["hash"] == "0x" + bytes(signed.hash).hex()
            assert int(decoded["nonce"], 16) == tx["nonce"] and int(decoded["value"], 16) == tx["value"]
            assert int(decoded["gas"], 16) == tx["gas"] and decoded["input"] == tx["data"]
            assert decoded["to"] == tx.get("to")
            assert (decoded["chainId"] and int(decoded["chainId"], 16)) == tx.get("chainId")
            assert int(decoded["v"], 16) == signed.v and int(decoded["r"], 16) == signed.r and int(decoded["s"], 16) == signed.s
            if "accessList" in tx:
                assert decoded["accessList"] == [{"address": e["address"], "storageKeys": e["storageKeys"]} for e in tx["accessList"]]
            # Bound to its chain when asked.
            if tx.get("chainId"):
                custos.run("eth", "decode-tx", raw, "--chain-id", tx["chainId"])
                assert "not " + str(tx["chainId"] + 1) in custos.fails("eth", "decode-tx", raw, "--chain-id", tx["chainId"] + 1)


def test_decode_refuses_malleated_trailing_and_unknown_transactions(custos):
    local = Account.create()
    tx = {"type": 2, "chainId": 1, "nonce": 0, "gas": 21000, "to": Account.create().address, "value": 1,
          "maxPriorityFeePerGas": 1, "maxFeePerGas": 2}
    raw = bytes(Account.sign_transaction(tx, local.key).raw_transaction)
    import rlp  # eth-account's own RLP library builds the malleated copy
    fields = rlp.decode(raw[1:])
    s = int.from_bytes(fields[-1], "big")
    parity = int.from_bytes(fields[-3], "big")
    high = fields[:-3] + [b"" if parity == 1 else b"\x01", fields[-2], (SECP256K1_ORDER - s).to_bytes(32, "big").lstrip(b"\x00")]
    assert "high s" in custos.fails("eth", "decode-tx", "0x" + (b"\x02" + rlp.encode(high)).hex())
    assert "follow" in custos.fails("eth", "decode-tx", "0x" + (raw + b"\x00").hex())
    assert "type 4 is not supported" in custos.fails("eth", "decode-tx", "0x04" + raw[1:].hex())
    assert "not valid hex" in custos.fails("eth", "decode-tx", "0xzz")


def test_messages_and_typed_data_both_ways(custos):
    local = account_key(custos)
    for message in [b"", b"hello", "Grüße ✓".encode(), os.urandom(200)]:
        signature = custos.run("eth", "sign-message", "--tenant", custos.tenant, "--account", "wallet",
                               "--message-hex", message.hex()).out.strip()
        assert Account.recover_message(encode_defunct(primitive=message), signature=signature) == local.address
        theirs = "0x" + bytes(Account.sign_message(encode_defunct(primitive=message), local.key).signature).hex()
        assert signature == theirs
        assert custos.run("eth", "recover-message", "--message-hex", message.hex(), "--signature", theirs).out.strip() == local.address
    # Text is signed as its UTF-8 bytes.
    text = custos.run("eth", "sign-message", "--tenant", custos.tenant, "--account", "wallet", "--message", "Grüße ✓").out.strip()
    assert Account.recover_message(encode_defunct(text="Grüße ✓"), signature=text) == local.address

    typed = {
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"},
                                   {"name": "verifyingContract", "type": "address"}],
                  "Leg": [{"name": "asset", "type": "address"}, {"name": "amount", "type": "int256"}],
                  "Trade": [{"name": "legs", "type": "Leg[]"}, {"name": "memo", "type": "string"}, {"name": "ids", "type": "uint64[3]"},
                            {"name": "salt", "type": "bytes32"}, {"name": "proof", "type": "bytes"}, {"name": "final", "type": "bool"}]},
        "primaryType": "Trade",
        "domain": {"name": "Custos DvP", "chainId": 31337, "verifyingContract": Account.create().address},
        "message": {"legs": [{"asset": Account.create().address, "amount": -(10**30)}, {"asset": Account.create().address, "amount": 2**200}],
                    "memo": "settle ✓", "ids": [1, 2**64 - 1, 3], "salt": "0x" + os.urandom(32).hex(),
                    "proof": "0x" + os.urandom(77).hex(), "final": True},
    }
    file = custos.file(json.dumps(typed), ".json")
    ours = custos.run("eth", "sign-typed-data", "--tenant", custos.tenant, "--account", local.address, "--file", file, "--json").json()
    signable = encode_typed_data(full_message=typed)
    assert Account.recover_message(signable, signature=ours["signature"]) == local.address
    theirs = Account.sign_message(signable, local.key)
    assert ours["signature"] == "0x" + bytes(theirs.signature).hex()
    assert custos.run("eth", "recover-typed-data", "--file", file, "--signature", "0x" + bytes(theirs.signature).hex()).out.strip() == local.address

    # Typed data whose message does not match its types: refused, and nothing signed.
    broken = json.loads(json.dumps(typed))
    broken["message"]["ids"] = [1, 2]
    error = custos.fails("eth", "sign-typed-data", "--tenant", custos.tenant, "--account", "wallet", "--file", custos.file(json.dumps(broken), ".json"))
    assert "message.ids must have 3 elements, not 2" in error


def test_bad_requests_are_refused_and_sign_nothing(custos):
    local = account_key(custos)
    custos.generate("plain", "ecdsa-secp256k1-keccak256")  # the Ethereum scheme, but not an account
    tx = {"chainId": 1, "nonce": 0, "gas": 21000, "gasPrice": 1, "to": Account.create().address, "value": 0}
    cases = [
        (["--account", "wallet", "--tx", json.dumps({k: v for k, v in tx.items() if k != "chainId"})], "chainId is missing"),
        (["--account", "wallet", "--tx", json.dumps({**tx, "gasprice": 1})], 'unknown field "gasprice"'),
        (["--account", "wallet", "--tx", json.dumps({**tx, "type": 3})], "transaction type 3 is not supported"),
        (["--account", "wallet", "--tx", json.dumps({**tx, "from": Account.create().address})], "is not the signing account"),
        (["--account", "wallet", "--tx", "{\"chainId\": 1,"], "invalid JSON"),
        (["--account", "plain", "--tx", json.dumps(tx)], "no Ethereum account 'plain'"),
        (["--account", Account.create().address, "--tx", json.dumps(tx)], "has no Ethereum account 0x"),
        (["--account", local.address.lower().replace("0x", "0X"), "--tx", json.dumps({**tx, "value": -1})], "value must not be negative"),
    ]
    for arguments, reason in cases:
        assert reason in custos.fails("eth", "sign-tx", "--tenant", custos.tenant, *arguments), reason
    records = custos.run("audit", "list", "--limit", "100000", "--json").json_lines()
    assert not [r for r in records if r.get("operation") == "eth.sign-transaction" and r.get("outcome") == "success"]
