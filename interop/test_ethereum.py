"""Ethereum accounts against eth-account (the Ethereum Foundation's Python signer) and web3.py:
what Custos signs, eth-account recovers to the account's address, and what eth-account signs,
Custos decodes to the same fields and sender. Both sign with RFC 6979 nonces, so for the same
key the raw transactions and signatures are the same bytes. web3.py, given Custos's JSON-RPC
endpoint as its provider, signs through its standard calls unchanged."""

from __future__ import annotations

import json
import os
import random
import signal
import threading

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from web3 import Web3
from web3.exceptions import Web3RPCError

from custos_cli import keys_in_listing
from server import Server, problem

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
    # The address is shown wherever the key is.
    assert custos.run("key", "show", "--tenant", custos.tenant, "wallet", "--json").json()["address"] == local.address
    assert [k.get("address") for k in keys_in_listing(custos.run("key", "list", "--tenant", custos.tenant, "--json").out)] == [local.address]
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
        (["--account", "plain", "--tx", json.dumps(tx)], "cannot act as an Ethereum account"),
        (["--account", Account.create().address, "--tx", json.dumps(tx)], "has no Ethereum account 0x"),
        (["--account", local.address.lower().replace("0x", "0X"), "--tx", json.dumps({**tx, "value": -1})], "value must not be negative"),
    ]
    for arguments, reason in cases:
        assert reason in custos.fails("eth", "sign-tx", "--tenant", custos.tenant, *arguments), reason
    records = custos.run("audit", "list", "--limit", "100000", "--json").json_lines()
    assert not [r for r in records if r.get("operation") == "eth.sign-transaction" and r.get("outcome") == "success"]


# ---------------------------------------------------------------------------------------
# The JSON-RPC signer and the HTTP API
# ---------------------------------------------------------------------------------------

CHAIN = 1337
MAIL = {  # EIP-712's own example, with a nested struct
    "types": {
        "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                         {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"}, {"name": "contents", "type": "string"}],
    },
    "primaryType": "Mail",
    "domain": {"name": "Ether Mail", "version": "1", "chainId": CHAIN, "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
    "message": {"from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
                "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"}, "contents": "Hello, Bob!"},
}


def serving(custos):
    """An account (eth-account's key), the tenant's chain, a running server, and web3 on the
    JSON-RPC endpoint with a signer token."""
    local = account_key(custos)
    custos.run("eth", "chain", "--tenant", custos.tenant, "--set", str(CHAIN))
    server = Server(custos)
    signer = server.token("signer", tenant=custos.tenant)
    admin = server.token("admin")
    server.start()
    endpoint = f"{server.url}/v1/tenants/{custos.tenant}/eth"
    w3 = Web3(Web3.HTTPProvider(endpoint, request_kwargs={"headers": {"Authorization": f"Bearer {signer}"}, "timeout": 60}))
    return local, server, w3, signer, admin


def rpc(server, token, method, params, call_id=1):
    response = server.call("POST", f"/v1/tenants/{server.custos.tenant}/eth", token,
                           {"jsonrpc": "2.0", "id": call_id, "method": method, "params": params})
    assert response.status_code == 200, response.text[:300]
    return response.json()


def test_web3_signs_through_the_json_rpc_endpoint_unchanged(custos):
    local, server, w3, signer, admin = serving(custos)
    try:
        assert w3.eth.accounts == [local.address]
        assert w3.eth.chain_id == CHAIN
        to = Account.create().address
        tx = {"from": local.address, "to": to, "value": 10**18, "gas": 21000, "maxFeePerGas": 3 * 10**9, "maxPriorityFeePerGas": 10**9}
        # No nonce, no chainId: Custos fills in the tenant's chain and the account's next nonce.
        for nonce in range(3):
            signed = w3.eth.sign_transaction(tx)
            assert Account.recover_transaction(signed.raw) == local.address
            assert signed.tx["nonce"] == nonce and signed.tx["chainId"] == CHAIN
            expected = Account.sign_transaction({**{k: v for k, v in tx.items() if k != "from"}, "type": 2, "chainId": CHAIN, "nonce": nonce},
                                                local.key)
            assert bytes(signed.raw) == bytes(expected.raw_transaction)  # RFC 6979 on both sides: the same bytes
            assert bytes(signed.tx["hash"]) == bytes(expected.hash)
        legacy = w3.eth.sign_transaction({"from": local.address, "to": to, "gas": 21000, "gasPrice": 10**9, "nonce": 99, "chainId": CHAIN})
        assert Account.recover_transaction(legacy.raw) == local.address and legacy.tx["nonce"] == 99

        signature = w3.eth.sign_typed_data(local.address, MAIL)
        assert Account.recover_message(encode_typed_data(full_message=MAIL), signature=signature) == local.address
        assert bytes(signature) == bytes(Account.sign_message(encode_typed_data(full_message=MAIL), local.key).signature)
        signature = w3.eth.sign(local.address, text="hello from web3")
        assert Account.recover_message(encode_defunct(text="hello from web3"), signature=signature) == local.address

        # What web3 raises on refusals: the JSON-RPC error, naming the rule or the chain.
        custos.run("eth", "policy", "--tenant", custos.tenant, "--account", local.address, "--max-value", str(10**17),
                   "--server", server.url, "--token", admin)
        with pytest.raises(Web3RPCError, match=r"\(max_value\)"):
            w3.eth.sign_transaction(tx)
        with pytest.raises(Web3RPCError, match="is not the chain"):
            w3.eth.sign_transaction({**tx, "value": 1, "chainId": 1})
        # Refusals used no nonce: the next transaction gets 100 (after the caller's own 99).
        assert w3.eth.sign_transaction({**tx, "value": 1}).tx["nonce"] == 100
        # Without a token the HTTP layer refuses before JSON-RPC.
        anonymous = Web3(Web3.HTTPProvider(f"{server.url}/v1/tenants/{custos.tenant}/eth"))
        with pytest.raises(Exception, match="401"):
            anonymous.eth.accounts
    finally:
        server.stop()
    records = custos.run("audit", "list", "--limit", "100000", "--json").json_lines()
    signings = [r for r in records if r.get("operation") == "eth.sign-transaction"]
    assert [r["outcome"] for r in signings].count("success") == 5
    assert [r.get("details", {}).get("rule") for r in signings if r["outcome"] == "denied"] == ["max_value"]
    custos.run("audit", "verify")  # exits 0 only for an intact chain


def test_concurrent_requests_never_share_a_nonce_and_a_kill_loses_none(custos):
    local, server, w3, signer, admin = serving(custos)
    to = Account.create().address
    raws, errors = [], []

    def worker():
        for _ in range(10):
            try:
                answer = rpc(server, signer, "eth_signTransaction",
                             [{"from": local.address, "to": to, "gas": 21000, "gasPrice": 10**9, "value": 1}])
                raws.append(answer["result"]["raw"])
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(repr(error))

    try:
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors[:3]
        nonces = []
        for raw in raws:
            assert Account.recover_transaction(raw) == local.address
            decoded = server.call("POST", f"/v1/tenants/{custos.tenant}/eth/decode-transaction", signer, {"raw": raw, "chain_id": CHAIN}).json()
            nonces.append(int(decoded["nonce"], 16))
        assert sorted(nonces) == list(range(40))
        # SIGKILL right after an answer: what was answered was durable, so no nonce comes back.
        last = rpc(server, signer, "eth_signTransaction", [{"from": local.address, "to": to, "gas": 21000, "gasPrice": 1}])["result"]
        assert int(last["tx"]["nonce"], 16) == 40
        server.stop(signal.SIGKILL)
        server.start()
        again = rpc(server, signer, "eth_signTransaction", [{"from": local.address, "to": to, "gas": 21000, "gasPrice": 1}])["result"]
        assert int(again["tx"]["nonce"], 16) == 41
        shown = server.call("GET", f"/v1/tenants/{custos.tenant}/eth/accounts/{local.address}", signer).json()
        assert shown["chains"] == [{"chain_id": CHAIN, "day": shown["chains"][0]["day"], "next_nonce": 42, "spent_today": "40"}]
    finally:
        server.stop()


def test_hostile_json_rpc_and_api_requests_are_refused_and_sign_nothing(custos):
    local, server, w3, signer, admin = serving(custos)
    base = f"/v1/tenants/{custos.tenant}/eth"
    try:
        def rpc_raw(raw: bytes):
            response = server.call("POST", base, signer, raw=raw)
            assert response.status_code == 200, response.text[:300]
            return response.json()

        assert rpc_raw(b"{")["error"]["code"] == -32700
        assert rpc_raw(b'{"jsonrpc":"2.0","id":1,"method":"eth_sendTransaction","params":[]}')["error"]["code"] == -32601
        assert rpc_raw(b'{"jsonrpc":"2.0","id":1,"method":"eth_sign","params":["' + local.address.encode() + b'","0x00"],"id":2}')["error"]["code"] == -32700
        assert rpc_raw(rb'{"jsonrpc":"2.0","id":1,"method":"eth_sign\u0000","params":[]}')["error"]["code"] == -32601
        deep = b"[" * 100 + b"]" * 100
        assert rpc_raw(b'{"jsonrpc":"2.0","id":1,"method":"eth_signTransaction","params":' + deep + b"}")["error"]["code"] == -32700
        answer = rpc(server, signer, "eth_signTransaction", [{"from": local.address, "to": "0x12", "gas": 1, "gasPrice": 1}])
        assert answer["error"]["code"] == -32602 and "to" in answer["error"]["message"]
        answer = rpc(server, signer, "eth_signTransaction", [{"from": Account.create().address, "gas": 1, "gasPrice": 1}])
        assert answer["error"]["data"]["code"] == "key-not-found"
        answer = rpc(server, signer, "eth_signTypedData_v4", [local.address, {**MAIL, "message": {**MAIL["message"], "contents": 5}}])
        assert answer["error"]["code"] == -32602
        answer = rpc(server, signer, "eth_signTransaction", [{"from": local.address, "gas": 1, "gasPrice": 1, "type": "0x3"}])
        assert "type 3 is not supported" in answer["error"]["message"]
        # An oversized body is refused by the HTTP layer (server.max_body_bytes).
        big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_sign", "params": [local.address, "0x" + "00" * (2 << 20)]})
        problem(server.call("POST", base, signer, raw=big.encode()), 413, "body-too-large")
        # The REST side: a signer may not change the policy or the chain; bodies are checked.
        problem(server.call("POST", f"{base}/accounts/wallet/policy", signer, {"policy": None}), 403, "forbidden")
        problem(server.call("POST", f"{base}/chain", signer, {"chain_id": 1}), 403, "forbidden")
        problem(server.call("POST", f"{base}/accounts/wallet/policy", admin, {"policy": {"max_value": "ten"}}), 400, "invalid-argument")
        problem(server.call("POST", f"{base}/accounts/wallet/sign-transaction", signer, {"transaction": {"gas": 1, "gasPrice": 1}, "x": 1}),
                400, "invalid-argument")
        problem(server.call("POST", f"{base}/accounts/wallet/sign-message", signer, raw=b'{"message":"0x00","message":"0x01"}'), 400)
        problem(server.call("POST", f"{base}/accounts/{Account.create().address}/sign-message", signer, {"message": "0x00"}), 404, "key-not-found")
        # A policy with every rule, through the CLI on the server; each refusal names its rule.
        other = Account.create().address
        custos.run("eth", "policy", "--tenant", custos.tenant, "--account", "wallet", "--chain-id", str(CHAIN), "--to", other,
                   "--max-value", "100", "--max-gas-price", "1000", "--daily-limit", "150", "--no-messages", "--server", server.url, "--token", admin)
        shown = custos.run("eth", "account", "--tenant", custos.tenant, "--account", "wallet", "--json", "--server", server.url, "--token", admin).json()
        assert shown["policy"] == {"chain_ids": [CHAIN], "recipients": [other], "max_value": "100", "max_gas_price": "1000",
                                   "daily_value_limit": "150", "sign_messages": False}
        tx = {"from": local.address, "to": other, "gas": 21000, "gasPrice": 1000, "value": 100}
        for change, rule in [({"to": Account.create().address}, "recipients"), ({"to": None, "data": "0x00"}, "recipients"),
                             ({"value": 101}, "max_value"), ({"gasPrice": 1001}, "max_gas_price")]:
            answer = rpc(server, signer, "eth_signTransaction", [{**tx, **change}])
            assert answer["error"]["data"]["code"] == "policy-refused" and f"({rule})" in answer["error"]["message"], answer
        assert "result" in rpc(server, signer, "eth_signTransaction", [tx])
        answer = rpc(server, signer, "eth_signTransaction", [tx])
        assert "(daily_value_limit)" in answer["error"]["message"], answer
        answer = rpc(server, signer, "personal_sign", ["0x00", local.address])
        assert "(sign_messages)" in answer["error"]["message"]
        shown = custos.run("eth", "account", "--tenant", custos.tenant, "--account", local.address, "--json",
                           "--server", server.url, "--token", signer).json()
        assert [(c["next_nonce"], c["spent_today"]) for c in shown["chains"]] == [(1, "100")]
    finally:
        server.stop()
