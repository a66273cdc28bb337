"""Security levels per tenant and category against a SoftHSM2 token: Standard (soft),
High (the soft box wrapped again inside the HSM) and Ultimate (generated in the HSM,
never extractable, signing through C_Sign). Signatures are verified with OpenSSL; key
attributes are read back through python-pkcs11."""

from __future__ import annotations

import os
import re
import sqlite3

import pytest

from custos_cli import SCRYPT_LOG_N, TENANT, Custos
from schemes import crypto_verify, openssl_genpkey, openssl_verify

MSG = b"security level " + os.urandom(8)
ULTIMATE_SCHEMES = ["ed25519", "ecdsa-p256-sha256", "ecdsa-p384-sha384", "rsa-pss-sha256", "rsa-pkcs1-sha256"]


@pytest.fixture
def leveled(custos_bin, tmp_path, softhsm) -> Custos:
    """A passphrase-rooted Custos with the SoftHSM token registered as HSM `hsm1`."""
    c = Custos(custos_bin, tmp_path)
    c.env.update(softhsm.env)
    c.env["CUSTOS_HSM_PIN_HSM1"] = softhsm.pin
    c.secrets.append(softhsm.pin)
    c.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
    c.run("tenant", "create", TENANT)
    c.run("hsm", "add", "hsm1", "--module", softhsm.module, "--token-label", softhsm.label)
    c.hsm = softhsm
    return c


def protection(c: Custos, alias: str) -> str:
    return c.run("key", "show", "--tenant", c.tenant, alias, "--json").json()["protection"]


def test_assignments_keep_their_history(leveled):
    c = leveled
    for level, hsm in [("high", ["--hsm", "hsm1"]), ("ultimate", ["--hsm", "hsm1"]), ("standard", [])]:
        c.run("tenant", "assign", TENANT, "--category", "LEDGER", "--level", level, *hsm)
    c.run("tenant", "assign", TENANT, "--category", "CONSENSUS", "--level", "high", "--hsm", "hsm1")
    levels = c.run("tenant", "levels", TENANT, "--json").json()["levels"]
    ledger = [l for l in levels if l["category"] == "LEDGER"]
    assert [l["level"] for l in ledger] == ["high", "ultimate", "standard"]
    assert [l["current"] for l in ledger] == [False, False, True]
    assert all("deprecated_at" in l for l in ledger[:2])
    assert [l["level"] for l in levels if l["current"]] == ["standard", "high"]


def test_bad_assignments_change_nothing(leveled):
    c = leveled
    assert "needs an HSM" in c.fails("tenant", "assign", TENANT, "--category", "LEDGER", "--level", "high")
    assert "takes no --hsm" in c.fails("tenant", "assign", TENANT, "--category", "LEDGER", "--level", "standard", "--hsm", "hsm1")
    assert "no HSM named 'nope'" in c.fails("tenant", "assign", TENANT, "--category", "LEDGER", "--level", "ultimate", "--hsm", "nope")
    assert "unknown level" in c.fails("tenant", "assign", TENANT, "--category", "LEDGER", "--level", "extreme", "--hsm", "hsm1")
    assert "unknown category" in c.fails("tenant", "assign", TENANT, "--category", "NOPE", "--level", "standard")
    assert "does not exist" in c.fails("tenant", "assign", "ghost", "--category", "LEDGER", "--level", "standard")
    assert c.run("tenant", "levels", TENANT, "--json").json()["levels"] == []
    assert "already exists" in c.fails("hsm", "add", "hsm1", "--module", c.hsm.module, "--token-label", c.hsm.label)
    env = dict(c.env, CUSTOS_HSM_PIN_HSM2="wrong-pin-0000")
    c.env = env
    assert "wrong PIN" in c.fails("hsm", "add", "hsm2", "--module", c.hsm.module, "--token-label", c.hsm.label)
    assert [h["name"] for h in c.run("hsm", "list", "--json").json()["hsms"]] == ["hsm1"]


def test_high_keys_need_the_hsm(leveled):
    c = leveled
    c.run("tenant", "assign", TENANT, "--category", "CONSENSUS", "--level", "high", "--hsm", "hsm1")
    c.generate("high-ed", "ed25519", "--category", "CONSENSUS")
    c.generate("soft-ed", "ed25519")  # LEDGER: standard
    assert protection(c, "high-ed") == "high:hsm1" and protection(c, "soft-ed") == "soft"
    for alias in ("high-ed", "soft-ed"):
        assert crypto_verify("ed25519", c.public(alias), MSG, c.sign(alias, MSG))
    # Rotation keeps the protection.
    c.run("key", "rotate", "--tenant", TENANT, "high-ed")
    assert c.sign_json("high-ed", MSG)["version"] == 2
    assert crypto_verify("ed25519", c.public("high-ed"), MSG, c.sign("high-ed", MSG))
    # The stored box is not the soft layout: without the HSM key nothing opens.
    c.hsm.tool("--delete-object", "--type", "secrkey", "--label", "custos-high")
    line = c.fails("sign", "--tenant", TENANT, "--key", "high-ed", "--message-file", c.file(MSG))
    assert "HSM 'hsm1'" in line and "custos-high" in line
    assert crypto_verify("ed25519", c.public("soft-ed"), MSG, c.sign("soft-ed", MSG))


@pytest.mark.parametrize("scheme", ULTIMATE_SCHEMES)
def test_ultimate_keys_sign_in_the_hsm_and_never_leave_it(leveled, scheme):
    c = leveled
    c.run("tenant", "assign", TENANT, "--category", "LEDGER", "--level", "ultimate", "--hsm", "hsm1")
    c.generate("u", scheme)
    assert protection(c, "u") == "ultimate:hsm1"
    pem = c.public_pem_file("u")
    for i in range(2):  # new process each time: found again by its label
        sig = c.sign("u", MSG + bytes([i]))
        msg_file, sig_file = c.file(MSG + bytes([i])), c.file(sig)
        assert openssl_verify(scheme, pem, msg_file, sig_file)
        assert not openssl_verify(scheme, pem, c.file(MSG + b"x"), sig_file)
    # The private key is in the token: sensitive, never extractable, its value unreadable.
    db = sqlite3.connect(c.data_dir / "custos.sqlite")
    [(label,)] = db.execute("SELECT v.wrapped_material FROM key_versions v JOIN keys k ON k.id = v.key_id WHERE k.alias = 'u'")
    label = bytes(label).decode()
    assert re.fullmatch(r"custos-[0-9a-f]{32}", label) and TENANT not in label
    [attrs] = c.hsm.attributes(label, "PRIVATE_KEY")
    assert attrs["SENSITIVE"] is True and attrs["EXTRACTABLE"] is False
    assert attrs["ALWAYS_SENSITIVE"] is True and attrs["NEVER_EXTRACTABLE"] is True
    assert attrs["VALUE_READABLE"] is False
    # Destroying the key destroys the token objects.
    c.run("key", "destroy", "--tenant", TENANT, "u")
    assert c.hsm.attributes(label, "PRIVATE_KEY") == [] and c.hsm.attributes(label, "PUBLIC_KEY") == []


def test_ultimate_labels_are_per_tenant_and_unsupported_schemes_are_refused(leveled):
    c = leveled
    c.run("tenant", "create", "other")
    for tenant in (TENANT, "other"):
        c.run("tenant", "assign", tenant, "--category", "LEDGER", "--level", "ultimate", "--hsm", "hsm1")
        c.run("key", "generate", "--tenant", tenant, "--alias", "same", "--scheme", "ecdsa-p256-sha256")
    db = sqlite3.connect(c.data_dir / "custos.sqlite")
    labels = {bytes(r[0]) for r in db.execute("SELECT wrapped_material FROM key_versions")}
    assert len(labels) == 2
    before = c.run("key", "list", "--tenant", TENANT, "--json").out
    for scheme in ("ecdsa-secp256k1-sha256", "ml-dsa-65", "bls12381-pop", "aes-256-gcm"):
        line = c.fails("key", "generate", "--tenant", TENANT, "--alias", "bad", "--scheme", scheme, "--category", "LEDGER")
        assert "ultimate" in line and "does not support" in line and "hsm1" in line
    assert c.run("key", "list", "--tenant", TENANT, "--json").out == before
    key = openssl_genpkey("ed25519", c.workdir / "imported.pem")
    assert "generated there, not imported" in c.fails("key", "import", "--tenant", TENANT, "--alias", "imp",
                                                       "--scheme", "ed25519", "--file", key)


def test_ultimate_signature_is_checked_against_the_stored_public_key(leveled):
    """A key swapped in the token under the key's label (by anyone with the token's PIN)
    signs with another private key: Custos refuses to release that signature."""
    c = leveled
    c.run("tenant", "assign", TENANT, "--category", "LEDGER", "--level", "ultimate", "--hsm", "hsm1")
    c.generate("u", "ecdsa-p256-sha256")
    pem = c.public_pem_file("u")
    db = sqlite3.connect(c.data_dir / "custos.sqlite")
    [(label,)] = db.execute("SELECT v.wrapped_material FROM key_versions v JOIN keys k ON k.id = v.key_id WHERE k.alias = 'u'")
    db.close()
    label = bytes(label).decode()
    c.hsm.tool("--delete-object", "--type", "privkey", "--label", label)
    c.hsm.tool("--keypairgen", "--key-type", "EC:prime256v1", "--label", label, "--id", "99")
    # Keep only the original public object under the label: the token's public key still
    # matches the stored one, so only the signature check can notice the swapped private key.
    c.hsm.tool("--delete-object", "--type", "pubkey", "--id", "99")
    line = c.fails("sign", "--tenant", TENANT, "--key", "u", "--message-file", c.file(MSG))
    assert "does not verify under the stored public key" in line, line
    # The key's public half is unchanged: nothing was re-read from the token.
    assert c.public_pem_file("u").read_bytes() == pem.read_bytes()
