"""Backups taken while `custos serve` signs, restored into fresh data directories.

Checked from outside: the restored keys sign (signatures checked with `cryptography`),
the restored audit chain verifies against the off-node head, the restore report names
the records after the snapshot and destroys again a key destroyed after the backup (or
keeps it, audited, with --keep-destroyed), a `cp -a` of a live data directory is refused,
and a tar backup reads back with Python's own tarfile, its hashes checked with hashlib.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tarfile
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from custos_cli import Custos
from server import Server, b64, unb64

LOAD_SECONDS = 3.0


def _public(custos: Custos, alias: str, data_dir: Path):
    env = dict(custos.env, CUSTOS_DATA_DIR=str(data_dir))
    pem = custos.run("key", "public", "--tenant", custos.tenant, alias, "--format", "pem", env=env).out
    return serialization.load_pem_public_key(pem.encode())


def _sign_locally(custos: Custos, alias: str, message: bytes, data_dir: Path, expect: int = 0):
    env = dict(custos.env, CUSTOS_DATA_DIR=str(data_dir))
    return custos.run("sign", "--tenant", custos.tenant, "--key", alias, "--message-file", custos.file(message), expect=expect, env=env)


def _check_signs(custos: Custos, data_dir: Path, aliases: dict[str, str]):
    """Every alias signs in `data_dir`, and `cryptography` accepts each signature."""
    for alias, scheme in aliases.items():
        message = f"after restore: {alias}".encode()
        signature = _sign_locally(custos, alias, message, data_dir).hex()
        public = _public(custos, alias, data_dir)
        if scheme == "ed25519":
            public.verify(signature, message)
        else:
            public.verify(signature, message, ec.ECDSA(hashes.SHA256()))


def _audit(custos: Custos, data_dir: Path, env: dict, *args) -> list[dict]:
    env = dict(env, CUSTOS_DATA_DIR=str(data_dir))
    return custos.run("audit", "list", "--limit", "100000", "--json", *args, env=env).json_lines()


def test_backup_under_signing_load_restores_every_key_and_reports_what_it_brings_back(custos: Custos):
    sink = custos.workdir / "offnode" / "head.json"
    sink.parent.mkdir()
    env = dict(custos.env, CUSTOS_AUDIT_SINK=str(sink))
    custos.env = env
    keys = {"ed": "ed25519", "p256": "ecdsa-p256-sha256", "doomed": "ed25519"}
    for alias, scheme in keys.items():
        custos.generate(alias, scheme)
    server = Server(custos, config={"audit": {"checkpoint_interval_seconds": 1, "sink": str(sink)}}).start()
    try:
        signer = server.token("signer", custos.tenant)
        publics = {alias: serialization.load_pem_public_key(
            server.call("GET", f"/v1/tenants/{custos.tenant}/keys/{alias}/public", signer, params={"format": "pem"}).json()["public_key"].encode())
            for alias in ("ed", "p256")}
        signed = {"ed": 0, "p256": 0}
        failures: list[str] = []
        stop = threading.Event()

        def load(alias: str):
            n = 0
            while not stop.is_set():
                message = f"{alias} {n}".encode()
                response = server.call("POST", f"/v1/tenants/{custos.tenant}/keys/{alias}/sign", signer, {"message": b64(message)})
                if response.status_code != 200:
                    failures.append(response.text[:200])
                    continue
                signature = unb64(response.json()["signature"])
                if alias == "ed":
                    publics[alias].verify(signature, message)
                else:
                    publics[alias].verify(signature, message, ec.ECDSA(hashes.SHA256()))
                signed[alias] += 1
                n += 1

        threads = [threading.Thread(target=load, args=(alias,)) for alias in ("ed", "p256", "ed", "p256")]
        for thread in threads:
            thread.start()
        time.sleep(LOAD_SECONDS / 2)
        backup = custos.workdir / "backup1"
        created = custos.run("backup", "create", backup, "--json").json()
        time.sleep(LOAD_SECONDS / 2)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert not failures, failures[:3]
        assert signed["ed"] > 10 and signed["p256"] > 10, signed
        assert created["audited"] is True
        # A key destroyed after the backup, while the server still runs.
        custos.run("key", "destroy", "--tenant", custos.tenant, "doomed")
        time.sleep(1.5)  # a server checkpoint publishes the newest head
    finally:
        server.stop()

    # The backup's files are private, and the live log recorded the backup.
    assert backup.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in backup.iterdir())
    snapshot = created["audit_head"]["sequence"]
    creates = _audit(custos, custos.data_dir, env, "--operation", "backup.create")
    assert creates and creates[-1]["details"]["snapshot_sequence"] == str(snapshot)

    verified = custos.run("backup", "verify", backup, "--json").json()
    assert verified["ok"] is True and verified["problems"] == []
    old_head = _audit(custos, custos.data_dir, env)[-1]["sequence"]
    assert old_head > snapshot + 5  # signing went on after the snapshot

    # Restore: the old directory is still readable, the sink holds the newest head.
    restored = custos.workdir / "restored"
    report = custos.run("backup", "restore", backup, "--data-dir", restored, "--previous", custos.data_dir, "--json").json()
    assert report["snapshot_head"]["sequence"] == snapshot
    assert report["previous_head"]["sequence"] >= old_head
    assert report["records_after_snapshot"] == len(report["records"]) > 5
    operations = {r["operation"] for r in report["records"]}
    assert {"sign", "destroy"} <= operations, operations
    assert [k["alias"] for k in report["destroyed_again"]] == ["doomed"] and report["kept_destroyed"] == []
    assert report["restore_record"] == snapshot + 1

    _check_signs(custos, restored, {"ed": "ed25519", "p256": "ecdsa-p256-sha256"})
    error = _sign_locally(custos, "doomed", b"x", restored, expect=2).err
    assert "destroy" in error.lower(), error
    records = _audit(custos, restored, env)
    first = records[snapshot]
    assert first["sequence"] == snapshot + 1 and first["operation"] == "backup.restore", first
    assert first["details"]["previous_sequence"] == str(report["previous_head"]["sequence"])
    assert first["details"]["snapshot_head"] == created["audit_head"]["hash"]
    assert first["details"]["destroy_again"] == f"{custos.tenant}/doomed"
    # The chain verifies against the off-node head, which moved to the restored log.
    result = custos.run("audit", "verify", "--json", env=dict(env, CUSTOS_DATA_DIR=str(restored))).json()
    assert result["intact"] is True, result
    # The sink now names the restored log: the old directory, if started again, is refused.
    old = custos.run("audit", "verify", "--json", expect=1, env=env).json()
    assert any(f["kind"] == "rolled-back" for f in old["findings"]), old

    # Restored again with --keep-destroyed (no sink): the key comes back, on the record.
    kept_dir = custos.workdir / "kept"
    plain = {k: v for k, v in custos.env.items() if k != "CUSTOS_AUDIT_SINK"}
    kept = custos.run("backup", "restore", backup, "--data-dir", kept_dir, "--previous", custos.data_dir, "--keep-destroyed", "--json", env=plain).json()
    assert [k["alias"] for k in kept["kept_destroyed"]] == ["doomed"] and kept["destroyed_again"] == []
    _check_signs(custos, kept_dir, {"ed": "ed25519", "doomed": "ed25519"})
    first = _audit(custos, kept_dir, plain, "--operation", "backup.restore")[0]
    assert first["details"]["kept_destroyed"] == f"{custos.tenant}/doomed"
    custos.run("audit", "verify", env=dict(plain, CUSTOS_DATA_DIR=str(kept_dir)))

    # Without a sink or the old directory the restore says it cannot know.
    blind_dir = custos.workdir / "blind"
    blind = custos.run("backup", "restore", backup, "--data-dir", blind_dir, env=plain)
    assert "cannot know" in blind.out and "unknown" in blind.out, blind.out
    _check_signs(custos, blind_dir, {"doomed": "ed25519"})


def test_a_copy_of_a_live_data_directory_is_refused(custos: Custos):
    custos.generate("k", "ed25519")
    server = Server(custos).start()
    try:
        signer = server.token("signer", custos.tenant)
        for n in range(20):
            assert server.call("POST", f"/v1/tenants/{custos.tenant}/keys/k/sign", signer, {"message": b64(b"%d" % n)}).status_code == 200
        copy = custos.workdir / "copy"
        subprocess.run(["cp", "-a", str(custos.data_dir), str(copy)], check=True)
    finally:
        server.stop()
    names = {p.name for p in copy.iterdir()}
    assert "custos.sqlite-wal" in names, names  # the copy caught the database open
    for command in (("backup", "verify", copy), ("backup", "restore", copy, "--data-dir", custos.workdir / "new")):
        error = custos.fails(*command)
        assert "not a Custos backup" in error and "backup create" in error, error
    assert not (custos.workdir / "new").exists()
    # Even without its -wal file, the copied database says it was in WAL mode.
    for name in names - {"custos.sqlite"}:
        if name.endswith(("-wal", "-shm")):
            (copy / name).unlink()
    error = custos.fails("backup", "restore", copy, "--data-dir", custos.workdir / "new")
    assert "WAL mode" in error, error


def test_tar_backup_reads_with_python_tarfile_and_hashes_match(custos: Custos):
    custos.generate("k", "ecdsa-p256-sha256")
    archive = custos.workdir / "b.tar"
    custos.run("backup", "create", archive)
    assert archive.stat().st_mode & 0o777 == 0o600
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        assert all(m.isreg() and "/" not in m.name for m in members)
        manifest = json.loads(tar.extractfile("manifest.json").read())
        contents = {m.name: tar.extractfile(m).read() for m in members}
    assert manifest["format"] == "custos-backup" and manifest["format_version"] == 1
    assert {f["name"] for f in manifest["files"]} == set(contents) - {"manifest.json"}
    for f in manifest["files"]:
        assert hashlib.sha256(contents[f["name"]]).hexdigest() == f["sha256"] and len(contents[f["name"]]) == f["size"]
    assert {"custos.sqlite", "root.seal", "custos.shred", "custos.sqlite.audit-mark"} <= set(contents)
    # sqlite3 (another reader) finds the copy whole and in rollback mode.
    db = custos.workdir / "copy.sqlite"
    db.write_bytes(contents["custos.sqlite"])
    connection = sqlite3.connect(db)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    connection.close()
    custos.run("backup", "verify", archive)
    restored = custos.workdir / "restored"
    custos.run("backup", "restore", archive, "--data-dir", restored)
    _check_signs(custos, restored, {"k": "ecdsa-p256-sha256"})


def _tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]):
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def test_hostile_archives_are_refused_and_write_nothing(custos: Custos, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()

    def regular(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        return info, data

    link = tarfile.TarInfo("root.seal")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    cases = {
        "dotdot.tar": ([regular("../outside/evil")], "leaves the archive"),
        "absolute.tar": ([regular(str(outside / "evil"))], "absolute path"),
        "symlink.tar": ([(link, None)], "symbolic link"),
        "nested.tar": ([regular("sub/file")], "plain file names only"),
    }
    for name, (entries, reason) in cases.items():
        archive = tmp_path / name
        _tar(archive, entries)
        for command in (("backup", "verify", archive), ("backup", "restore", archive, "--data-dir", tmp_path / "new")):
            error = custos.fails(*command)
            assert "refused" in error and reason in error, (name, error)
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "new").exists()
    # A truncated archive and one with a bad checksum.
    custos.run("backup", "create", tmp_path / "good.tar")
    data = (tmp_path / "good.tar").read_bytes()
    (tmp_path / "short.tar").write_bytes(data[:700])
    assert "truncated" in custos.fails("backup", "verify", tmp_path / "short.tar")
    bad = bytearray(data)
    bad[10] ^= 0x01
    (tmp_path / "badsum.tar").write_bytes(bytes(bad))
    assert "checksum" in custos.fails("backup", "verify", tmp_path / "badsum.tar")


def test_bad_backups_bad_targets_and_wrong_secrets(custos: Custos, tmp_path: Path):
    custos.generate("k", "ed25519")
    backup = tmp_path / "b"
    custos.run("backup", "create", backup)
    assert "never overwrites" in custos.fails("backup", "create", backup)  # not empty now
    (tmp_path / "occupied.tar").write_bytes(b"")
    assert "never overwrites" in custos.fails("backup", "create", tmp_path / "occupied.tar")

    # Not initialised.
    bare = dict(custos.env, CUSTOS_DATA_DIR=str(tmp_path / "nothing"))
    error = custos.run("backup", "create", tmp_path / "b0", env=bare, expect=2).err
    assert "custos init" in error and not (tmp_path / "b0").exists()

    # A file whose hash does not match: verify exits 1 and names it; restore writes nothing.
    damaged = tmp_path / "damaged"
    shutil.copytree(backup, damaged)
    shred = damaged / "custos.shred"
    shred.write_bytes(shred.read_bytes() + b" ")
    result = custos.run("backup", "verify", damaged, "--json", expect=1).json()
    assert result["ok"] is False and any("custos.shred" in p and "SHA-256" in p for p in result["problems"]), result
    assert "damaged" in custos.fails("backup", "restore", damaged, "--data-dir", tmp_path / "new")
    assert not (tmp_path / "new").exists()

    # A file the manifest does not name, and a missing one.
    extra = tmp_path / "extra"
    shutil.copytree(backup, extra)
    (extra / "notes.txt").write_text("hi")
    (extra / "custos.sqlite.audit-mark").unlink()
    problems = custos.run("backup", "verify", extra, "--json", expect=1).json()["problems"]
    assert any("notes.txt is not in the manifest" in p for p in problems) and any("audit-mark is missing" in p for p in problems), problems

    # Missing and garbled manifests.
    garbled = tmp_path / "garbled"
    shutil.copytree(backup, garbled)
    (garbled / "manifest.json").write_text("{not json")
    assert "not valid JSON" in custos.fails("backup", "verify", garbled)
    (garbled / "manifest.json").write_text(json.dumps({"format": "custos-backup", "format_version": 9}))
    assert "not valid JSON" in custos.fails("backup", "verify", garbled)
    (garbled / "manifest.json").unlink()
    assert "not a Custos backup" in custos.fails("backup", "restore", garbled, "--data-dir", tmp_path / "new")

    # A schema newer than this binary, with the manifest rewritten to match the file.
    newer = tmp_path / "newer"
    shutil.copytree(backup, newer)
    connection = sqlite3.connect(newer / "custos.sqlite")
    connection.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)")
    connection.commit()
    connection.close()
    manifest = json.loads((newer / "manifest.json").read_text())
    for f in manifest["files"]:
        if f["name"] == "custos.sqlite":
            data = (newer / "custos.sqlite").read_bytes()
            f["sha256"], f["size"] = hashlib.sha256(data).hexdigest(), len(data)
    (newer / "manifest.json").write_text(json.dumps(manifest))
    problems = custos.run("backup", "verify", newer, "--json", expect=1).json()["problems"]
    assert any("upgrade Custos" in p for p in problems), problems

    # The target must be new or empty; an empty one is fine.
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "x").write_text("keep me")
    assert "never overwrites" in custos.fails("backup", "restore", backup, "--data-dir", occupied)
    assert (occupied / "x").read_text() == "keep me"

    # A wrong passphrase: nothing is written, not even a partial folder beside it.
    wrong = dict(custos.env, CUSTOS_PASSPHRASE="not the passphrase", CUSTOS_DATA_DIR=str(tmp_path / "new"))
    custos.run("backup", "restore", backup, env=wrong, expect=2)
    assert not (tmp_path / "new").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]

    empty = tmp_path / "empty"
    empty.mkdir()
    custos.run("backup", "restore", backup, "--data-dir", empty)
    assert empty.stat().st_mode & 0o777 == 0o700
    _check_signs(custos, empty, {"k": "ed25519"})


def test_an_interrupted_restore_leaves_nothing_half_valid(custos: Custos, tmp_path: Path):
    for n in range(8):
        custos.generate(f"k{n}", "ed25519")
    backup = tmp_path / "b"
    custos.run("backup", "create", backup)
    outcomes = []
    for n, delay in enumerate((0.05, 0.15, 0.3, 0.6, 1.0)):
        target = tmp_path / f"new{n}"
        proc = subprocess.Popen([str(custos.binary), "backup", "restore", str(backup), "--data-dir", str(target)],
                                env=custos.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=30)
        if target.exists():
            # Only a restore that finished before the kill leaves the target: whole and valid.
            custos.run("audit", "verify", env=dict(custos.env, CUSTOS_DATA_DIR=str(target)))
            _check_signs(custos, target, {"k0": "ed25519"})
            outcomes.append("complete")
        else:
            outcomes.append("absent")
        assert code in (0, -signal.SIGKILL)
    assert "absent" in outcomes, outcomes  # at least one kill landed mid-way
