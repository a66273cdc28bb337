"""Recovery shares of the root key (SLIP-39) against trezor's `shamir-mnemonic` and an
independent HPKE (`pyhpke`): shares Custos prints recombine in Python to the recovery
secret, and shares Python makes from that secret recover the root in Custos; fewer than
the threshold fail in both; the recovered root opens every key (signatures checked with
`cryptography`); shares sealed to custodians open with pyhpke."""

from __future__ import annotations

import json
import os
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from pyhpke import AEADId, CipherSuite, KDFId, KEMId
from shamir_mnemonic import MnemonicError, combine_mnemonics
from shamir_mnemonic.shamir import EncryptedMasterSecret, split_ems

from custos_cli import SCRYPT_LOG_N, TENANT, Custos
from schemes import crypto_verify

SCHEMES = {"ed": "ed25519", "p256": "ecdsa-p256-sha256", "k1": "ecdsa-secp256k1-sha256", "rsa": "rsa-pss-sha256"}
MSG = b"recovery " + os.urandom(8)
SHARE_LINE = re.compile(r"^recovery share (\d+) of (\d+) \(any (\d+) recover the root\): ([a-z ]+)$")


def shares_in(text: str) -> list[str]:
    found = [m.group(4) for m in map(SHARE_LINE.match, text.splitlines()) if m]
    return found


def setup(c: Custos, *init_args) -> tuple[list[str], dict]:
    out = c.run("init", "--scrypt-log-n", SCRYPT_LOG_N, *init_args).out
    c.run("tenant", "create", TENANT)
    publics = {}
    for alias, scheme in SCHEMES.items():
        c.generate(alias, scheme)
        publics[alias] = c.public(alias)
    return shares_in(out), publics


def check_every_key(c: Custos, publics: dict) -> None:
    assert c.run("root", "check", "--json").json() == {"checked": len(SCHEMES), "failed": []}
    for alias, scheme in SCHEMES.items():
        assert c.public(alias) == publics[alias]
        assert crypto_verify(scheme, publics[alias], MSG, c.sign(alias, MSG)), alias


def recover(c: Custos, shares: list[str], new_passphrase: str, *extra, expect: int = 0):
    files = []
    for share in shares:
        files += ["--share-file", c.file(share + "\n", ".share")]
    env = dict(c.env, CUSTOS_NEW_PASSPHRASE=new_passphrase)
    c.secrets.append(new_passphrase)
    res = c.run("root", "recover", "--to", "passphrase", "--scrypt-log-n", SCRYPT_LOG_N, *files, *extra, "--json",
                expect=expect, env=env)
    if expect == 0:
        c.env["CUSTOS_PASSPHRASE"] = new_passphrase
    return res


def test_custos_shares_recombine_in_python_and_python_shares_recover_in_custos(custos_bin, tmp_path):
    c = Custos(custos_bin, tmp_path)
    printed, publics = setup(c, "--recovery-shares", "3", "--recovery-threshold", "2")
    assert len(printed) == 3 and all(len(s.split()) == 33 for s in printed)
    c.secrets += printed  # no later command may print a share again
    escrow = c.run("root", "recovery", "status", "--json").json()
    assert escrow["shares"] == 3 and escrow["threshold"] == 2 and escrow["valid"] is True
    old_root = escrow["root_key_id"]

    # Every pair recombines in shamir-mnemonic to one 256-bit secret; one share does not.
    secrets = {combine_mnemonics([printed[i], printed[j]]) for i, j in [(0, 1), (0, 2), (1, 2)]}
    assert len(secrets) == 1
    secret = secrets.pop()
    assert len(secret) == 32
    with pytest.raises(MnemonicError):
        combine_mnemonics([printed[1]])

    # The root of trust is lost: the passphrase is gone.
    c.env["CUSTOS_PASSPHRASE"] = "a passphrase nobody remembers"
    assert "wrong passphrase" in c.fails("root", "check")

    # M-1 shares are refused, saying how many more are needed.
    assert "1 more" in c.fails("root", "recover", "--to", "passphrase", "--share-file", c.file(printed[0] + "\n"))

    # Python re-splits the secret it recombined (same set identifier, a new 3-of-5 split):
    # those shares opening the escrow proves the recombined secret is the escrow's.
    ems = EncryptedMasterSecret.from_master_secret(secret, b"", escrow["identifier"], True, 1)
    python_shares = [share.mnemonic() for share in split_ems(1, [(3, 5)], ems)[0]]
    c.secrets += python_shares
    assert "1 more" in recover(c, python_shares[:2], "unused", expect=2).err
    out = recover(c, [python_shares[4], python_shares[0], python_shares[2]], "passphrase after recovery").json()
    assert out["recovered"] is True and out["from_root_key_id"] == old_root and out["root_key_id"] != old_root
    assert out["shares_used"] == 3 and out["to"] == "passphrase"
    check_every_key(c, publics)

    # The escrow now holds the new root under the same secret: Custos's own shares still work.
    escrow = c.run("root", "recovery", "status", "--json").json()
    assert escrow["root_key_id"] == out["root_key_id"] and escrow["valid"] is True
    again = recover(c, printed[1:], "second passphrase after recovery").json()
    assert again["from_root_key_id"] == out["root_key_id"]
    check_every_key(c, publics)

    audit = c.run("audit", "list", "--json", "--limit", "1000").out
    assert "root.recovery.create" in audit and audit.count('"root.recover"') >= 2


def test_python_shares_with_a_passphrase_and_the_wrong_passphrase(custos_bin, tmp_path):
    c = Custos(custos_bin, tmp_path)
    phrase = "custodians agree on this"
    c.env["CUSTOS_RECOVERY_PASSPHRASE"] = phrase
    c.secrets.append(phrase)
    printed, publics = setup(c, "--recovery-shares", "2", "--recovery-threshold", "2")
    secret = combine_mnemonics(printed, phrase.encode())
    assert combine_mnemonics(printed, b"") != secret  # SLIP-39 cannot tell a wrong passphrase
    c.env["CUSTOS_RECOVERY_PASSPHRASE"] = "not what they agreed"
    err = recover(c, printed, "unused", expect=2).err
    assert "recovery passphrase is wrong" in err
    # Python's own split of the secret, under the passphrase, with the original format.
    ems = EncryptedMasterSecret.from_master_secret(secret, phrase.encode(), json.loads(
        c.run("root", "recovery", "status", "--json").out)["identifier"], True, 1)
    python_shares = [s.mnemonic() for s in split_ems(1, [(2, 2)], ems)[0]]
    c.env["CUSTOS_RECOVERY_PASSPHRASE"] = phrase
    recover(c, python_shares, "passphrase after recovery")
    check_every_key(c, publics)


def hpke_open(path, private_key, suite_kem):
    sealed = json.loads(path.read_text())
    suite = CipherSuite.new(suite_kem, KDFId.HKDF_SHA256, AEADId.AES256_GCM)
    if suite_kem == KEMId.DHKEM_X25519_HKDF_SHA256:
        raw = private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    else:
        raw = private_key.private_numbers().private_value.to_bytes(32, "big")
    key = suite.kem.deserialize_private_key(raw)
    info = f"Custos recovery share v1, root key {sealed['root_key_id']}".encode()
    aad = (f"index={sealed['index']};shares={sealed['shares']};threshold={sealed['threshold']};"
           f"identifier={sealed['identifier']}").encode()
    recipient = suite.create_recipient_context(bytes.fromhex(sealed["encapsulated_key"]), key, info=info)
    return recipient.open(bytes.fromhex(sealed["ciphertext"]), aad=aad).decode()


def test_shares_sealed_to_custodians_open_with_pyhpke(custos_bin, tmp_path):
    c = Custos(custos_bin, tmp_path)
    printed, publics = setup(c, "--recovery-shares", "2", "--recovery-threshold", "2")
    keys = [x25519.X25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1()), x25519.X25519PrivateKey.generate()]
    kems = [KEMId.DHKEM_X25519_HKDF_SHA256, KEMId.DHKEM_P256_HKDF_SHA256, KEMId.DHKEM_X25519_HKDF_SHA256]
    pems = [c.file(k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), ".pem")
            for k in keys]
    out_dir = tmp_path / "custodians"
    args = ["root", "recovery", "create", "--shares", "3", "--threshold", "2", "--recovery-out", out_dir]
    for pem in pems:
        args += ["--recovery-custodian", pem]
    # One key per share, or nothing is made.
    assert "one public key per share" in c.fails(*args[:-2])
    made = c.run(*args, "--json").json()
    assert made["replaced"] is True and len(made["files"]) == 3
    assert SHARE_LINE.search(c.run(*args, expect=2).err) is None  # share files exist: refused, nothing printed
    opened = [hpke_open(out_dir / f"share-{i + 1}.hpke", keys[i], kems[i]) for i in range(3)]
    c.secrets += opened
    # A share opens only for its custodian.
    with pytest.raises(Exception):
        hpke_open(out_dir / "share-1.hpke", keys[2], kems[2])
    secret = combine_mnemonics([opened[0], opened[2]])
    assert combine_mnemonics([opened[1], opened[2]]) == secret
    # The replaced escrow refuses the shares printed at init.
    assert "belongs to recovery set" in recover(c, printed, "unused", expect=2).err
    recover(c, [opened[2], opened[1]], "passphrase after recovery")
    check_every_key(c, publics)


def test_init_refuses_bad_recovery_options(custos_bin, tmp_path):
    c = Custos(custos_bin, tmp_path)
    assert c.run("init", "--recovery-shares", "3", expect=64).code == 64
    assert "every share the whole secret" in c.fails("init", "--recovery-shares", "3", "--recovery-threshold", "1")
    assert "between 1 and 16" in c.fails("init", "--recovery-shares", "17", "--recovery-threshold", "2")
    assert not c.data_dir.exists()
    c.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
    assert c.run("root", "recovery", "status", expect=1).out.startswith("no recovery escrow")
    assert "no recovery escrow" in c.fails("root", "recover", "--to", "passphrase", "--share-file", c.file("x\n"))
