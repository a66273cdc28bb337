"""Key lifecycle seen from outside: versions and rotation, disable/enable, destroy,
symmetric keys, listing, and errors that change nothing. Signatures are checked with
pyca/cryptography against the public keys Custos exports."""

from __future__ import annotations

import json
import os

import pytest

from custos_cli import PASSPHRASE, TENANT, Custos, keys_in_listing
from schemes import crypto_verify

MSG = b"lifecycle " + os.urandom(8)


def test_init_creates_data_dir_and_refuses_twice(custos):
    assert custos.data_dir.is_dir() and any(custos.data_dir.iterdir())
    custos.fails("init", "--scrypt-log-n", "10")


def test_tenants(custos):
    custos.run("tenant", "create", "globex")
    out = custos.run("tenant", "list").out
    assert TENANT in out and "globex" in out
    custos.fails("tenant", "create", "globex")
    custos.fails("key", "generate", "--tenant", "no-such-tenant", "--alias", "k", "--scheme", "ed25519")


def test_rotation_keeps_old_versions_verifying(custos):
    custos.generate("k", "ecdsa-p256-sha256")
    first = custos.sign_json("k", MSG)
    assert first["version"] == 1
    pub1 = custos.public("k")
    custos.run("key", "rotate", "--tenant", custos.tenant, "k")
    second = custos.sign_json("k", MSG)
    assert second["version"] == 2 and second["key_id"] == first["key_id"]
    pub2 = custos.public("k")
    assert pub2 != pub1
    assert custos.public("k", version=1) == pub1
    sig1, sig2 = bytes.fromhex(first["signature"]), bytes.fromhex(second["signature"])
    assert crypto_verify("ecdsa-p256-sha256", pub2, MSG, sig2)
    assert crypto_verify("ecdsa-p256-sha256", pub1, MSG, sig1)
    assert not crypto_verify("ecdsa-p256-sha256", pub2, MSG, sig1)
    # Custos' own verification by key and version.
    base = ["verify", "--tenant", custos.tenant, "--key", "k", "--message-hex", MSG.hex(), "--json"]
    assert custos.run(*base, "--signature", sig1.hex(), "--version", "1").json()["valid"] is True
    assert custos.run(*base, "--signature", sig2.hex()).json()["valid"] is True
    assert custos.run(*base, "--signature", sig2.hex(), "--version", "2").json()["valid"] is True
    assert custos.run(*base, "--signature", sig1.hex(), "--version", "2", expect=1).json()["valid"] is False


def test_disable_enable(custos):
    custos.generate("k", "ed25519")
    custos.run("key", "disable", "--tenant", custos.tenant, "k")
    custos.fails("sign", "--tenant", custos.tenant, "--key", "k", "--message-hex", MSG.hex())
    assert custos.list_aliases("--status", "disabled") == ["k"]
    custos.run("key", "enable", "--tenant", custos.tenant, "k")
    sig = custos.sign("k", MSG)
    assert crypto_verify("ed25519", custos.public("k"), MSG, sig)


def test_destroy(custos):
    custos.generate("k", "ed25519")
    custos.generate("other", "ed25519")
    pem = custos.public("k")
    sig = custos.sign("k", MSG)
    custos.run("key", "destroy", "--tenant", custos.tenant, "k")
    error = custos.fails("sign", "--tenant", custos.tenant, "--key", "k", "--message-hex", MSG.hex())
    assert "destroy" in error.lower(), error
    assert custos.list_aliases("--status", "destroyed") == ["k"]
    # The other key is untouched, and old signatures still check out with the saved public key.
    assert crypto_verify("ed25519", custos.public("other"), MSG, custos.sign("other", MSG))
    assert crypto_verify("ed25519", pem, MSG, sig)


@pytest.mark.parametrize("aad", [None, "0a0b0c"])
def test_aes_gcm_round_trip(custos, aad):
    custos.generate("enc", "aes-256-gcm")
    plain = b"payload " + os.urandom(40)
    extra = ["--aad-hex", aad] if aad else []
    ct = custos.run("encrypt", "--tenant", custos.tenant, "--key", "enc", "--plaintext-hex", plain.hex(),
                    *extra).hex()
    assert plain not in ct and len(ct) >= len(plain) + 16 + 12
    ct2 = custos.run("encrypt", "--tenant", custos.tenant, "--key", "enc", "--in", custos.file(plain), *extra).hex()
    assert ct2 != ct, "two encryptions of one plaintext must differ (fresh nonce)"
    for c in (ct, ct2):
        got = custos.run("decrypt", "--tenant", custos.tenant, "--key", "enc", "--ciphertext-hex", c.hex(),
                         *extra).hex()
        assert got == plain
    out = custos.workdir / "plain.out"
    custos.run("decrypt", "--tenant", custos.tenant, "--key", "enc", "--in", custos.file(ct), *extra, "--out", out)
    assert out.read_bytes() == plain
    # Wrong AAD, tampered ciphertext: errors, nothing written.
    custos.fails("decrypt", "--tenant", custos.tenant, "--key", "enc", "--ciphertext-hex", ct.hex(),
                 "--aad-hex", "ff" if aad else "00")
    bad = ct[:-1] + bytes([ct[-1] ^ 1])
    out2 = custos.workdir / "never.out"
    custos.fails("decrypt", "--tenant", custos.tenant, "--key", "enc", "--ciphertext-hex", bad.hex(), *extra,
                 "--out", out2)
    assert not out2.exists() or out2.read_bytes() == b""


def test_decrypt_after_rotation(custos):
    custos.generate("enc", "aes-256-gcm")
    plain = b"older ciphertext"
    ct1 = custos.run("encrypt", "--tenant", custos.tenant, "--key", "enc", "--plaintext-hex", plain.hex()).hex()
    custos.run("key", "rotate", "--tenant", custos.tenant, "enc")
    ct2 = custos.run("encrypt", "--tenant", custos.tenant, "--key", "enc", "--plaintext-hex", plain.hex()).hex()
    for c in (ct1, ct2):
        assert custos.run("decrypt", "--tenant", custos.tenant, "--key", "enc", "--ciphertext-hex",
                          c.hex()).hex() == plain


@pytest.mark.parametrize("scheme,size", [("hmac-sha256", 32), ("hmac-sha512", 64)])
def test_hmac(custos, scheme, size):
    custos.generate("mac", scheme)
    a = custos.run("hmac", "--tenant", custos.tenant, "--key", "mac", "--message-hex", MSG.hex()).hex()
    b = custos.run("hmac", "--tenant", custos.tenant, "--key", "mac", "--message-file", custos.file(MSG)).hex()
    c = custos.run("hmac", "--tenant", custos.tenant, "--key", "mac", "--message-hex", (MSG + b"!").hex()).hex()
    assert len(a) == size and a == b and a != c


def test_symmetric_keys_have_no_public_key_and_do_not_sign(custos):
    custos.generate("enc", "aes-256-gcm")
    custos.fails("key", "public", "--tenant", custos.tenant, "enc")
    custos.fails("sign", "--tenant", custos.tenant, "--key", "enc", "--message-hex", "00")


def test_listing_filters_and_count(custos):
    custos.generate("node", "ed25519", "--count", "3")
    custos.generate("eth", "ecdsa-secp256k1-keccak256", "--category", "ACCOUNTS", "--label", "chain=1",
                    "--external-id", "acct-7")
    custos.generate("enc", "aes-256-gcm")
    assert sorted(custos.list_aliases()) == ["enc", "eth", "node-1", "node-2", "node-3"]
    assert sorted(custos.list_aliases("--alias-prefix", "node-")) == ["node-1", "node-2", "node-3"]
    assert custos.list_aliases("--category", "ACCOUNTS") == ["eth"]
    assert custos.list_aliases("--category", "ENCRYPTION") == ["enc"]
    assert custos.list_aliases("--scheme", "aes-256-gcm") == ["enc"]
    assert sorted(custos.list_aliases("--category", "LEDGER")) == ["node-1", "node-2", "node-3"]
    assert len(custos.list_aliases("--limit", "2")) == 2
    shown = json.loads(custos.run("key", "show", "--tenant", custos.tenant, "eth", "--json").out)
    assert shown["alias"] == "eth" and shown["scheme"] == "ecdsa-secp256k1-keccak256"
    assert shown["category"] == "ACCOUNTS" and shown.get("external_id") == "acct-7"


def test_paging_visits_every_key_once(custos):
    custos.generate("p", "ed25519", "--count", "5")
    seen, after, pages = [], None, 0
    while True:
        args = ["key", "list", "--tenant", custos.tenant, "--limit", "2", "--json"]
        if after:
            args += ["--after", after]
        doc = custos.run(*args).json()
        pages += 1
        assert len(doc["keys"]) <= 2 and pages <= 5
        seen += [k["alias"] for k in doc["keys"]]
        after = doc.get("next_cursor")
        if not after:
            break
    assert sorted(seen) == [f"p-{i}" for i in range(1, 6)] and len(seen) == 5


def test_wrong_passphrase_is_refused(custos):
    custos.generate("k", "ed25519")
    env = dict(custos.env, CUSTOS_PASSPHRASE="not the passphrase")
    res = custos.run("sign", "--tenant", custos.tenant, "--key", "k", "--message-hex", "00", expect=2, env=env)
    assert "not the passphrase" not in res.err
    # Still fine with the right one.
    custos.sign("k", b"\x00")


def test_passphrase_file_and_data_dir_options(custos_bin, tmp_path):

    c = Custos(custos_bin, tmp_path)
    for var in ("CUSTOS_PASSPHRASE", "CUSTOS_DATA_DIR"):
        c.env.pop(var)
    pw = tmp_path / "pw"
    pw.write_text(PASSPHRASE + "\n")
    data = tmp_path / "explicit"
    opts = ["--data-dir", data, "--passphrase-file", pw]
    c.run("init", "--scrypt-log-n", "10", *opts)
    c.run("tenant", "create", TENANT, *opts)
    c.run("key", "generate", "--tenant", TENANT, "--alias", "k", "--scheme", "ed25519", *opts)
    sig = c.run("sign", "--tenant", TENANT, "--key", "k", "--message-hex", MSG.hex(), *opts).hex()
    pem = c.run("key", "public", "--tenant", TENANT, "k", *opts).out.encode()
    assert crypto_verify("ed25519", pem, MSG, sig)
    assert data.is_dir() and not (tmp_path / "home" / ".custos").exists()
    # No passphrase anywhere and no terminal: an error, not a hang.
    c.run("sign", "--tenant", TENANT, "--key", "k", "--message-hex", "00", "--data-dir", data, expect=2)


def test_no_secret_in_data_dir_listing_output(custos):
    """--json outputs of show/list never carry wrapped or raw private material fields."""
    custos.generate("k", "ed25519")
    shown = json.loads(custos.run("key", "show", "--tenant", custos.tenant, "k", "--json").out)
    text = json.dumps(shown).lower()
    for word in ("private", "wrapped", "secret", "ciphertext"):
        assert word not in text, f"`key show` mentions {word!r}: {shown}"
