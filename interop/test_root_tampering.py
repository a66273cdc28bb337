"""The data directory's writer as an attacker: a planted `root.next.json`, an edited
`root.json`, an edited `hsms` table. They hold no passphrase, PIN or credentials; they
must get no key (nothing is re-wrapped under a root they control) and run no code (no
TCTI command, no shared library of theirs is loaded)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from custos_cli import SCRYPT_LOG_N, TENANT, Custos
from providers import SOFTHSM_MODULE
from test_roots import MSG, kms_init_args, pkcs11_custos, pkcs11_init_args, sign_and_verify, tpm_custos

EVIL_C = r"""
#include <stdio.h>
__attribute__((constructor)) static void planted(void) {
    FILE *f = fopen(MARKER, "w");
    if (f) fclose(f);
}
"""


def evil_module(path: Path, marker: Path) -> Path:
    """A shared library that creates `marker` as soon as it is loaded."""
    source = path.with_suffix(".c")
    source.write_text(EVIL_C)
    subprocess.run(["cc", "-shared", "-fPIC", f'-DMARKER="{marker}"', "-o", str(path), str(source)],
                   check=True, capture_output=True, timeout=60)
    # Private modes, as a planter who knows the data directory's checks would leave them.
    source.chmod(0o600)
    path.chmod(0o600)
    return path


def root_status_fails(c: Custos, *words: str, marker: Path | None = None) -> str:
    res = c.run("root", "status", "--json", expect=None)
    # First: no code of the planter's ran.
    assert marker is None or not marker.exists(), "planted code ran"
    assert res.code != 0, res.out
    text = res.out + res.err
    for word in words:
        assert word in text, text
    return text


def planted_kms_root(c: Custos, kms_server, tmp_path: Path) -> dict:
    """A real root.json sealed by a KMS key the planter owns, made in another directory."""
    planter = Custos(c.binary, tmp_path / "planter")
    planter.env.pop("CUSTOS_PASSPHRASE", None)
    planter.env.update(kms_server.env, CUSTOS_KMS_ALLOW_HTTP="1")
    planter.run("init", *kms_init_args(kms_server, kms_server.create_key()))
    return json.loads((planter.data_dir / "root.json").read_text())


def test_planted_pending_migration_gets_no_key(custos_bin, tmp_path, kms_server, swtpm):
    c = Custos(custos_bin, tmp_path)
    c.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    c.env.update(kms_server.env, CUSTOS_KMS_ALLOW_HTTP="1")
    c.secrets.append(kms_server.secret_key)
    status = c.run("root", "status", "--json").json()
    seal = (c.data_dir / "root.seal").read_bytes()
    marker = tmp_path / "tcti-ran"
    tpm = {"format": "custos-root", "version": 1, "provider": "tpm", "root_key_id": "00" * 8,
           "sealed_root_key": "00" * 64, "tpm": {"tcti": f"cmd:touch {marker}", "pcrs": []}}
    for planted in (planted_kms_root(c, kms_server, tmp_path), tpm):
        (c.data_dir / "root.next.json").write_text(json.dumps(planted))
        (c.data_dir / "root.next.json").chmod(0o600)
        # Any command: refused, and the error says how an operator finishes a real migration.
        res = c.run("sign", "--tenant", TENANT, "--key", "ed", "--message-file", c.file(MSG), expect=None)
        assert not marker.exists(), "planted code ran"
        assert res.code == 2 and "root migrate --resume" in res.err, res.err
        # The operator's resume: the current root did not authorise it.
        assert "not authorised by the current root" in c.fails("root", "migrate", "--resume")
        assert (c.data_dir / "root.seal").read_bytes() == seal
        assert not marker.exists()
        (c.data_dir / "root.next.json").unlink()
        assert c.run("root", "status", "--json").json() == status
        rows = sqlite3.connect(c.data_dir / "custos.sqlite").execute("SELECT DISTINCT root_key_id FROM wrapping_keys").fetchall()
        assert rows == [(status["root_key_id"],)]
    sign_and_verify(c, ["ed"])
    # Each refused resume is in the audit log.
    rows = audit_rows(c, "root.migrate")
    assert [(r["outcome"], json.loads(r["details"])["step"]) for r in rows] == [("failure", "refused")] * 2


def audit_rows(c: Custos, operation: str) -> list[dict]:
    db = sqlite3.connect(c.data_dir / "custos.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM audit_records WHERE operation = ? ORDER BY sequence", (operation,))]
    finally:
        db.close()


def test_tcti_from_root_json_runs_no_command(custos_bin, tmp_path, swtpm):
    c = tpm_custos(custos_bin, tmp_path)
    c.run("init", "--root", "tpm", "--tpm-tcti", swtpm.tcti)
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    marker = tmp_path / "tcti-ran"
    root = c.data_dir / "root.json"
    good = root.read_text()
    for tcti in (f"cmd:touch {marker}", f"libtss2-tcti-cmd.so.0:touch {marker}"):
        root.write_text(good.replace(swtpm.tcti, tcti))
        root_status_fails(c, "not allowed", marker=marker)
    root.write_text(good)
    # The operator's override is checked the same way.
    c.env["CUSTOS_TPM_TCTI"] = f"cmd:touch {marker}"
    root_status_fails(c, "not allowed", marker=marker)
    assert not marker.exists()
    del c.env["CUSTOS_TPM_TCTI"]
    sign_and_verify(c, ["ed"])


def test_pkcs11_module_from_root_json_is_refused_before_loading(custos_bin, tmp_path, softhsm):
    c = pkcs11_custos(custos_bin, tmp_path, softhsm)
    c.run("init", *pkcs11_init_args(softhsm))
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    marker = tmp_path / "module-ran"
    root = c.data_dir / "root.json"
    good = root.read_text()
    inside = evil_module(c.data_dir / "evil.so", marker)
    outside = evil_module(tmp_path / "evil.so", marker)
    for module, refusal in ((inside, "inside the data directory"), (outside, "not allowed")):
        root.write_text(good.replace(softhsm.module, str(module)))
        root_status_fails(c, refusal, marker=marker)
    # Allowed by the operator but inside the data directory: still refused.
    root.write_text(good.replace(softhsm.module, str(inside)))
    c.env["CUSTOS_PKCS11_MODULES"] = str(inside)
    root_status_fails(c, "inside the data directory", marker=marker)
    del c.env["CUSTOS_PKCS11_MODULES"]
    root.write_text(good)
    sign_and_verify(c, ["ed"])


def test_pkcs11_module_from_the_hsms_table_is_refused_before_loading(custos_bin, tmp_path, softhsm):
    c = Custos(custos_bin, tmp_path)
    c.env.update(softhsm.env)
    c.env["CUSTOS_HSM_PIN_HSM1"] = softhsm.pin
    c.secrets.append(softhsm.pin)
    c.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
    c.run("tenant", "create", TENANT)
    marker = tmp_path / "module-ran"
    evil = evil_module(tmp_path / "evil.so", marker)
    c.env["CUSTOS_HSM_PIN_HSM2"] = softhsm.pin
    line = c.run("hsm", "add", "hsm2", "--module", evil, "--token-label", softhsm.label, expect=None).err
    assert not marker.exists(), "planted code ran"
    assert "not allowed" in line, line
    c.run("hsm", "add", "hsm1", "--module", softhsm.module, "--token-label", softhsm.label)
    c.run("tenant", "assign", TENANT, "--category", "LEDGER", "--level", "ultimate", "--hsm", "hsm1")
    c.generate("u", "ed25519")
    db = sqlite3.connect(c.data_dir / "custos.sqlite")
    db.execute("UPDATE hsms SET module = ?", (str(evil),))
    db.commit()
    db.close()
    res = c.run("sign", "--tenant", TENANT, "--key", "u", "--message-file", c.file(MSG), expect=None)
    assert not marker.exists(), "planted code ran"
    assert res.code == 2 and "not allowed" in res.err, res.err
    assert not [p for p in c.data_dir.iterdir() if p.suffix == ".so"]


def test_both_root_files_are_refused(custos_bin, tmp_path, softhsm):
    c = pkcs11_custos(custos_bin, tmp_path, softhsm)
    c.run("init", *pkcs11_init_args(softhsm))
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    # A passphrase root the planter knows, next to the real one.
    other = Custos(custos_bin, tmp_path / "other")
    other.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
    shutil.copy(other.data_dir / "root.seal", c.data_dir / "root.seal")
    c.env["CUSTOS_PASSPHRASE"] = other.env["CUSTOS_PASSPHRASE"]
    assert "both root.json and root.seal" in c.fails("sign", "--tenant", TENANT, "--key", "ed", "--message-file", c.file(MSG))
    root_status_fails(c, "both root.json and root.seal")
    (c.data_dir / "root.seal").unlink()
    sign_and_verify(c, ["ed"])


@pytest.mark.parametrize("flag", ["--resume"])
def test_resume_without_a_pending_migration_is_a_clear_error(custos_bin, tmp_path, flag):
    c = Custos(custos_bin, tmp_path)
    c.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
    assert "no root migration is pending" in c.fails("root", "migrate", flag)
    assert "either --to PROVIDER or --resume" in c.run("root", "migrate", expect=64).err
