"""Roots of trust end to end against real implementations of their interfaces:
SoftHSM2 (PKCS#11), swtpm (TPM 2.0 through the TSS2 ESAPI) and moto_server (the AWS
KMS JSON API with SigV4). Each provider: init, generate, restart, unseal, sign; bad
secrets or addresses at start give a clear error and change nothing; revoking access
(the kill switch) stops every private operation, and Custos recovers without a restart
when access returns."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

import pytest

from custos_cli import TENANT, Custos
from providers import KMS, SoftHSM, SwTPM, free_port
from schemes import crypto_verify

MSG = b"root of trust " + os.urandom(8)


def snapshot(directory: Path) -> dict:
    """Content hashes of every file in the data directory."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def provider_custos(custos_bin: Path, tmp_path: Path, env: dict, secrets: list[str]) -> Custos:
    c = Custos(custos_bin, tmp_path)
    c.env.pop("CUSTOS_PASSPHRASE", None)
    c.env.update(env)
    c.secrets += secrets
    return c


def sign_and_verify(c: Custos, aliases=("ed", "p256")) -> None:
    """Each call is a new process: it unseals through the provider, then signs."""
    for alias in aliases:
        scheme = {"ed": "ed25519", "p256": "ecdsa-p256-sha256"}[alias]
        sig = c.sign(alias, MSG)
        assert crypto_verify(scheme, c.public(alias), MSG, sig)


def end_to_end(c: Custos, init_args: list[str], provider: str) -> None:
    c.run("init", *init_args)
    assert (c.data_dir / "root.json").is_file() and not (c.data_dir / "root.seal").exists()
    described = json.loads((c.data_dir / "root.json").read_text())
    assert described["provider"] == provider
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    c.generate("p256", "ecdsa-p256-sha256")
    sign_and_verify(c)
    status = c.run("root", "status", "--json").json()
    assert status == {"ready": True, "status": "unsealed", "provider": provider, "root_key_id": described["root_key_id"]}


def refused(c: Custos, *words: str) -> str:
    """Private operations fail naming the provider; status says not ready."""
    line = c.fails("sign", "--tenant", TENANT, "--key", "ed", "--message-file", c.file(MSG))
    for word in words:
        assert word in line, line
    res = c.run("root", "status", "--json", expect=1)
    assert res.json()["ready"] is False and res.json()["status"] == "refused"
    return line


class Watcher:
    """`custos root watch` in the background: one JSON line per change of status."""

    def __init__(self, c: Custos, probe: str = f"{TENANT}/ed"):
        self.c = c
        self.proc = subprocess.Popen([str(c.binary), "root", "watch", "--interval-ms", "100", "--max-seconds", "120",
                                      "--probe-key", probe], env=c.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, predicate, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError(f"root watch exited {self.proc.returncode}: {self.proc.stderr.read()}")
                continue
            for s in self.c.secrets:
                assert s.lower() not in line.lower(), "secret printed by root watch"
            doc = json.loads(line)
            self.seen.append(doc)
            if predicate(doc):
                return doc
        raise AssertionError(f"root watch: condition not met within {timeout}s; seen {self.seen}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def kill_switch_and_recovery(c: Custos, revoke, restore, provider: str, reason_words: tuple[str, ...]) -> None:
    watcher = Watcher(c)
    try:
        watcher.wait_for(lambda d: d["ready"] == "true" and d["sign"] == "ok")
        revoke()
        doc = watcher.wait_for(lambda d: d["ready"] == "false")
        assert doc["status"] == "refused" and doc["provider"] == provider
        for word in reason_words:
            assert word in doc["reason"], doc
        # The key was cached before: it is dropped, nothing signs.
        assert doc["sign"].startswith("error:") and provider in doc["sign"], doc
        # A fresh process refuses too.
        refused(c, provider)
        restore()
        doc = watcher.wait_for(lambda d: d["ready"] == "true")
        assert doc["sign"] == "ok", doc
    finally:
        watcher.stop()
    sign_and_verify(c, ["ed"])


# ---------------------------------------------------------------------------------------
# PKCS#11 (SoftHSM2)
# ---------------------------------------------------------------------------------------

def pkcs11_custos(custos_bin, tmp_path, hsm: SoftHSM) -> Custos:
    return provider_custos(custos_bin, tmp_path, dict(hsm.env, CUSTOS_PKCS11_PIN=hsm.pin), [hsm.pin])


def pkcs11_init_args(hsm: SoftHSM) -> list[str]:
    return ["--root", "pkcs11", "--pkcs11-module", hsm.module, "--pkcs11-token", hsm.label]


def test_pkcs11_end_to_end(custos_bin, tmp_path, softhsm):
    c = pkcs11_custos(custos_bin, tmp_path, softhsm)
    end_to_end(c, pkcs11_init_args(softhsm), "pkcs11")
    # The wrapping key lives in the token and cannot leave it.
    [key] = softhsm.attributes("custos-root", "SECRET_KEY")
    assert key["SENSITIVE"] is True and key["EXTRACTABLE"] is False and key["NEVER_EXTRACTABLE"] is True
    assert key["VALUE_LEN"] == 32 and key["VALUE_READABLE"] is False


def test_pkcs11_wrong_pin_token_or_module_changes_nothing(custos_bin, tmp_path, softhsm):
    c = pkcs11_custos(custos_bin, tmp_path, softhsm)
    c.run("init", *pkcs11_init_args(softhsm))
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    before = snapshot(c.data_dir)
    good = dict(c.env)
    c.env["CUSTOS_PKCS11_PIN"] = "not-the-pin-1234"
    refused(c, "pkcs11", "wrong PIN")
    c.env = dict(good, CUSTOS_PKCS11_MODULE=str(tmp_path / "no-such-module.so"))
    refused(c, "pkcs11", "module cannot be loaded")
    c.env = dict(good)
    (c.data_dir / "root.json").write_text((c.data_dir / "root.json").read_text().replace(softhsm.label, "other-token"))
    refused(c, "pkcs11", "no initialised token")
    (c.data_dir / "root.json").write_text((c.data_dir / "root.json").read_text().replace("other-token", softhsm.label))
    assert snapshot(c.data_dir) == before
    sign_and_verify(c, ["ed"])
    # init with a wrong PIN leaves no data directory behind.
    d = provider_custos(custos_bin, tmp_path / "second", dict(softhsm.env, CUSTOS_PKCS11_PIN="wrong-pin-0000"), [])
    assert "wrong PIN" in d.fails("init", *pkcs11_init_args(softhsm))
    assert not d.data_dir.exists()


def test_pkcs11_kill_switch_token_unreachable_then_recovery(custos_bin, tmp_path, softhsm):
    c = pkcs11_custos(custos_bin, tmp_path, softhsm)
    c.run("init", *pkcs11_init_args(softhsm))
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    tokens = softhsm.directory / "tokens"
    away = softhsm.directory / "unplugged"
    kill_switch_and_recovery(c, lambda: tokens.rename(away), lambda: away.rename(tokens), "pkcs11", ())


def test_pkcs11_kill_switch_wrapping_key_deleted(custos_bin, tmp_path, softhsm):
    c = pkcs11_custos(custos_bin, tmp_path, softhsm)
    c.run("init", *pkcs11_init_args(softhsm))
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    sign_and_verify(c, ["ed"])
    watcher = Watcher(c)
    try:
        watcher.wait_for(lambda d: d["sign"] == "ok")
        softhsm.tool("--delete-object", "--type", "secrkey", "--label", "custos-root")
        doc = watcher.wait_for(lambda d: d["ready"] == "false")
        assert "custos-root" in doc["reason"] and "not in token" in doc["reason"], doc
        assert doc["sign"].startswith("error:")
    finally:
        watcher.stop()
    refused(c, "pkcs11", "custos-root")


# ---------------------------------------------------------------------------------------
# AWS KMS (moto_server)
# ---------------------------------------------------------------------------------------

def kms_custos(custos_bin, tmp_path, kms: KMS) -> Custos:
    return provider_custos(custos_bin, tmp_path, kms.env, [kms.secret_key])


def kms_init_args(kms: KMS, key_id: str) -> list[str]:
    return ["--root", "kms", "--kms-endpoint", kms.endpoint, "--kms-region", "us-east-1", "--kms-key-id", key_id]


def test_kms_end_to_end(custos_bin, tmp_path, kms_server):
    c = kms_custos(custos_bin, tmp_path, kms_server)
    key_id = kms_server.create_key()
    end_to_end(c, kms_init_args(kms_server, key_id), "kms")
    assert json.loads((c.data_dir / "root.json").read_text())["kms"]["key_id"] == key_id


def test_kms_wrong_credentials_or_endpoint_changes_nothing(custos_bin, tmp_path, kms_server):
    c = kms_custos(custos_bin, tmp_path, kms_server)
    c.run("init", *kms_init_args(kms_server, kms_server.create_key()))
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    before = snapshot(c.data_dir)
    good = dict(c.env)
    c.env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret-wrong-secret-wrong-secret00"
    refused(c, "kms", "secret access key is wrong")
    c.env = dict(good, AWS_ACCESS_KEY_ID="AKIAUNKNOWNUNKNOWN00")
    refused(c, "kms", "not recognised")
    c.env = dict(good, CUSTOS_KMS_ENDPOINT=f"http://127.0.0.1:{free_port()}")
    refused(c, "kms", "unreachable")
    c.env = dict(good)
    assert snapshot(c.data_dir) == before
    sign_and_verify(c, ["ed"])
    # init against a missing key leaves nothing behind.
    d = kms_custos(custos_bin, tmp_path / "second", kms_server)
    assert "NotFoundException" in d.fails("init", *kms_init_args(kms_server, "11111111-2222-3333-4444-555555555555"))
    assert not d.data_dir.exists()


def test_kms_plain_http_needs_the_explicit_test_setting(custos_bin, tmp_path, kms_server):
    """Plain http would carry the root key in clear: refused before any request, unless
    CUSTOS_KMS_ALLOW_HTTP=1 and the endpoint is on loopback."""
    c = kms_custos(custos_bin, tmp_path, kms_server)
    key_id = kms_server.create_key()
    c.env.pop("CUSTOS_KMS_ALLOW_HTTP")
    assert "must use https" in c.fails("init", *kms_init_args(kms_server, key_id))
    assert not c.data_dir.exists()
    c.env["CUSTOS_KMS_ALLOW_HTTP"] = "1"
    c.run("init", *kms_init_args(kms_server, key_id))
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    before = snapshot(c.data_dir)
    good = dict(c.env)
    # Allowed for loopback only: a remote plain-http endpoint is refused even with it.
    for env in ({k: v for k, v in good.items() if k != "CUSTOS_KMS_ALLOW_HTTP"},
                dict(good, CUSTOS_KMS_ENDPOINT="http://kms.example.invalid")):
        c.env = env
        assert "must use https" in c.fails("sign", "--tenant", TENANT, "--key", "ed", "--message-file", c.file(MSG))
        assert "must use https" in c.fails("root", "status")
    assert snapshot(c.data_dir) == before


def test_kms_kill_switch_disable_key_then_recovery(custos_bin, tmp_path, kms_server):
    c = kms_custos(custos_bin, tmp_path, kms_server)
    key_id = kms_server.create_key()
    c.run("init", *kms_init_args(kms_server, key_id))
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    client = kms_server.client()
    kill_switch_and_recovery(c, lambda: client.disable_key(KeyId=key_id), lambda: client.enable_key(KeyId=key_id),
                             "kms", ("Disabled",))


# ---------------------------------------------------------------------------------------
# TPM 2.0 (swtpm)
# ---------------------------------------------------------------------------------------

def tpm_custos(custos_bin, tmp_path) -> Custos:
    return provider_custos(custos_bin, tmp_path, {}, [])


def test_tpm_end_to_end(custos_bin, tmp_path, swtpm):
    c = tpm_custos(custos_bin, tmp_path)
    end_to_end(c, ["--root", "tpm", "--tpm-tcti", swtpm.tcti], "tpm")
    # The sealed object is bound to this TPM: the same files with a fresh TPM do not open.
    swtpm.stop()
    for f in swtpm.directory.iterdir():
        f.unlink()
    swtpm.start()
    refused(c, "tpm")


def test_tpm_wrong_tcti_or_auth_changes_nothing(custos_bin, tmp_path, swtpm):
    c = tpm_custos(custos_bin, tmp_path)
    c.env["CUSTOS_TPM_AUTH"] = "object-auth-for-tests"
    c.secrets.append("object-auth-for-tests")
    c.run("init", "--root", "tpm", "--tpm-tcti", swtpm.tcti)
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    before = snapshot(c.data_dir)
    good = dict(c.env)
    c.env["CUSTOS_TPM_TCTI"] = f"swtpm:host=127.0.0.1,port={free_port()}"
    refused(c, "tpm", "cannot reach the TPM")
    c.env = dict(good, CUSTOS_TPM_AUTH="wrong-object-auth")
    refused(c, "tpm", "wrong authorization")
    c.env = dict(good, CUSTOS_TPM_TCTI="nosuchtcti:whatever")
    assert "is not allowed" in c.fails("root", "status")
    assert "is not allowed" in c.fails("sign", "--tenant", TENANT, "--key", "ed", "--message-file", c.file(MSG))
    c.env = dict(good)
    assert snapshot(c.data_dir) == before
    sign_and_verify(c, ["ed"])


def test_tpm_kill_switch_pcr_change_then_recovery(custos_bin, tmp_path, swtpm):
    c = tpm_custos(custos_bin, tmp_path)
    c.run("init", "--root", "tpm", "--tpm-tcti", swtpm.tcti, "--tpm-pcrs", "16")
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    extend = lambda: swtpm.tool("tpm2_pcrextend", "16:sha256=" + "ab" * 32)
    reset = lambda: swtpm.tool("tpm2_pcrreset", "16")
    kill_switch_and_recovery(c, extend, reset, "tpm", ("PCR",))


def test_tpm_kill_switch_owner_auth_change_then_recovery(custos_bin, tmp_path, swtpm):
    c = tpm_custos(custos_bin, tmp_path)
    c.run("init", "--root", "tpm", "--tpm-tcti", swtpm.tcti)
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    change = lambda: swtpm.tool("tpm2_changeauth", "-c", "owner", "new-owner-auth")
    back = lambda: swtpm.tool("tpm2_changeauth", "-c", "owner", "-p", "new-owner-auth")
    kill_switch_and_recovery(c, change, back, "tpm", ("authorization",))


def test_server_kill_switch_readiness_audit_and_recovery(custos_bin, tmp_path, softhsm):
    """The server asks the provider every second: a token that goes away turns readiness
    false and `custos_root_unsealed` 0, refuses signing with the provider named, and is
    audited; when the token returns, the same process signs again."""
    import metrics_doc
    from server import Server, b64

    c = pkcs11_custos(custos_bin, tmp_path, softhsm)
    c.run("init", *pkcs11_init_args(softhsm))
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    server = Server(c, config={"keystore": {"root_check_interval_seconds": 1}}).start()
    try:
        token = server.token("signer", TENANT)
        sign = lambda: server.call("POST", f"/v1/tenants/{TENANT}/keys/ed/sign", token, {"message": b64(MSG)})
        assert sign().status_code == 200
        assert server.call("GET", "/v1/health/ready").status_code == 200
        tokens, away = softhsm.directory / "tokens", softhsm.directory / "unplugged"
        tokens.rename(away)
        deadline = time.time() + 20
        while time.time() < deadline and server.call("GET", "/v1/health/ready").status_code == 200:
            time.sleep(0.3)
        ready = server.call("GET", "/v1/health/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["root"].startswith("failing"), ready.text
        refused_root = metrics_doc.samples(server.call("GET", "/metrics").text)
        assert refused_root['custos_root_unsealed{provider="pkcs11"}'] == 0
        assert refused_root['custos_root_state{state="refused",provider="pkcs11"}'] == 1
        assert refused_root['custos_root_state{state="unsealed",provider="pkcs11"}'] == 0
        assert refused_root['custos_root_refusals_total{provider="pkcs11"}'] == 1
        # The unauthenticated route names the provider, not its settings or errors.
        for detail in (softhsm.module, softhsm.label, "token", "CKR", "module"):
            assert detail not in ready.text, ready.text
        refusal = sign()
        assert refusal.status_code == 503 and refusal.json()["code"] == "unseal-failed", refusal.text
        assert "pkcs11" in refusal.json()["detail"]
        away.rename(tokens)
        deadline = time.time() + 20
        while time.time() < deadline and server.call("GET", "/v1/health/ready").status_code != 200:
            time.sleep(0.3)
        assert server.call("GET", "/v1/health/ready").status_code == 200
        assert sign().status_code == 200
        recovered = metrics_doc.samples(server.call("GET", "/metrics").text)
        assert recovered['custos_root_unsealed{provider="pkcs11"}'] == 1
        assert recovered['custos_root_state{state="refused",provider="pkcs11"}'] == 0
        assert recovered['custos_root_refusals_total{provider="pkcs11"}'] == 1, "the refusal stays counted"
    finally:
        server.stop()
    unseals = [row for row in server.audit_rows() if row["operation"] == "unseal"]
    outcomes = [(row["actor"], row["outcome"]) for row in unseals]
    assert ("keystore", "failure") in outcomes and ("keystore", "success") in outcomes, outcomes
    assert c.run("audit", "verify", "--json").json()["intact"] is True
