"""A writer of the data directory, played with Python's sqlite3 against the real binary:
edited key and version rows are refused as corrupt-record, and restoring a copy of
custos.sqlite taken before a destroy does not bring the destroyed key back."""

from __future__ import annotations

import shutil
import sqlite3

from schemes import crypto_verify

MSG = b"integrity"


def edit(custos, sql: str, *params) -> None:
    with sqlite3.connect(custos.data_dir / "custos.sqlite") as db:
        assert db.execute(sql, params).rowcount == 1


def key_id(custos, alias: str) -> str:
    with sqlite3.connect(custos.data_dir / "custos.sqlite") as db:
        return db.execute("SELECT id FROM keys WHERE alias = ?", (alias,)).fetchone()[0]


def test_edited_rows_are_refused(custos):
    custos.generate("off", "ed25519")
    custos.run("key", "disable", "--tenant", custos.tenant, "off")
    custos.generate("rolled", "ed25519")
    custos.run("key", "rotate", "--tenant", custos.tenant, "rolled")
    custos.generate("scheme", "ecdsa-p256-sha256")
    custos.generate("pub", "ed25519")
    custos.generate("other", "ed25519")
    other_public = custos.public("other", "der")

    edit(custos, "UPDATE keys SET status = 'enabled' WHERE id = ?", key_id(custos, "off"))
    edit(custos, "UPDATE keys SET primary_version = 1 WHERE id = ?", key_id(custos, "rolled"))
    edit(custos, "UPDATE keys SET scheme = 'ecdsa-p384-sha384' WHERE id = ?", key_id(custos, "scheme"))
    edit(custos, "UPDATE key_versions SET public_key = ? WHERE key_id = ?", other_public, key_id(custos, "pub"))
    for alias in ["off", "rolled", "scheme", "pub"]:
        error = custos.fails("sign", "--tenant", custos.tenant, "--key", alias, "--message-file", custos.file(MSG))
        assert "does not match its MAC" in error, (alias, error)
    # A swapped public key must not make someone else's signature verify as this key's.
    signature = custos.sign("other", MSG)
    error = custos.fails("verify", "--tenant", custos.tenant, "--key", "pub", "--message-file", custos.file(MSG),
                         "--signature", signature.hex())
    assert "does not match its MAC" in error, error
    # Each refusal is in the audit log, and the log itself is intact.
    failures = [r for r in custos.run("audit", "list", "--limit", "1000", "--json").json_lines()
                if "corrupt-record" in str(r.get("details"))]
    assert len(failures) >= 5, failures
    assert custos.run("audit", "verify", "--json").json()["intact"] is True


def test_an_older_database_does_not_bring_a_destroyed_key_back(custos, tmp_path):
    custos.generate("doomed", "ed25519")
    custos.generate("kept", "ecdsa-p256-sha256")
    database = custos.data_dir / "custos.sqlite"
    backup = tmp_path / "before-destroy.sqlite"
    with sqlite3.connect(database) as db:                 # a consistent online copy
        db.execute("VACUUM INTO ?", (str(backup),))

    custos.run("key", "destroy", "--tenant", custos.tenant, "doomed")
    signature = custos.sign("kept", MSG)                  # re-wrapped under the new generation
    assert crypto_verify("ecdsa-p256-sha256", custos.public("kept"), MSG, signature)

    for suffix in ["", "-wal", "-shm"]:
        (custos.data_dir / f"custos.sqlite{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup, database)
    database.chmod(0o600)                                 # a careful restorer keeps the mode
    with sqlite3.connect(database) as db:                 # the restored copy still has the material
        assert db.execute("SELECT COUNT(*) FROM key_versions WHERE wrapped_material IS NOT NULL").fetchone()[0] == 2
    error = custos.fails("sign", "--tenant", custos.tenant, "--key", "doomed", "--message-file", custos.file(MSG))
    assert "wrapping key generation 1" in error, error
    assert "BEGIN PRIVATE KEY" not in custos.run("key", "list", "--tenant", custos.tenant, expect=None).out
