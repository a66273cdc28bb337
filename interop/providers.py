"""Real implementations of the root-of-trust interfaces, started per test in temporary
directories on free loopback ports: a SoftHSM2 token (PKCS#11), swtpm (TPM 2.0) and
moto_server (the AWS KMS JSON API, with SigV4 authentication enforced)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PKCS11_PIN = "custos-test-pin-4096"
SO_PIN = "custos-test-so-pin-4096"
TOKEN_LABEL = "custos-test"


def free_port(count: int = 1) -> int:
    """A loopback port p such that p … p+count-1 are free (at the time of asking)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + count >= 65535:
            continue
        ok = True
        for p in range(port + 1, port + count):
            with socket.socket() as t:
                try:
                    t.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
        if ok:
            return port
    raise RuntimeError("no free loopback ports")


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------
# SoftHSM2
# ---------------------------------------------------------------------------------------

@dataclass
class SoftHSM:
    directory: Path
    conf: Path
    label: str = TOKEN_LABEL
    pin: str = PKCS11_PIN
    module: str = SOFTHSM_MODULE

    @property
    def env(self) -> dict:
        return {"SOFTHSM2_CONF": str(self.conf)}

    def tool(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """pkcs11-tool (OpenSC) logged in to this token."""
        env = dict(os.environ, **self.env)
        return subprocess.run(["pkcs11-tool", "--module", self.module, "--token-label", self.label,
                               "--login", "--pin", self.pin, *args],
                              env=env, capture_output=True, text=True, check=check, timeout=60)


    def attributes(self, label: str, object_class: str) -> list[dict]:
        """Attributes of the token's objects with this label and class (SECRET_KEY,
        PRIVATE_KEY, PUBLIC_KEY), read through python-pkcs11 in a fresh process (a
        PKCS#11 module reads its configuration once per process)."""
        script = f"""
import json, pkcs11
from pkcs11 import Attribute, ObjectClass
lib = pkcs11.lib({self.module!r})
token = lib.get_token(token_label={self.label!r})
out = []
with token.open(user_pin={self.pin!r}) as session:
    for obj in session.get_objects({{Attribute.LABEL: {label!r}, Attribute.CLASS: ObjectClass.{object_class}}}):
        row = {{}}
        for name in ("SENSITIVE", "EXTRACTABLE", "ALWAYS_SENSITIVE", "NEVER_EXTRACTABLE", "TOKEN", "VALUE_LEN", "KEY_TYPE"):
            try:
                value = obj[getattr(Attribute, name)]
            except Exception:
                continue
            row[name] = value if isinstance(value, (bool, int)) else int(value)
        # The secret part: CKA_VALUE (AES, EC, EdDSA keys) or CKA_PRIVATE_EXPONENT (RSA).
        row["VALUE_READABLE"] = "absent"
        for secret in (Attribute.VALUE, Attribute.PRIVATE_EXPONENT):
            try:
                obj[secret]
                row["VALUE_READABLE"] = True
                break
            except pkcs11.exceptions.AttributeSensitive:
                row["VALUE_READABLE"] = False
                break
            except pkcs11.exceptions.AttributeTypeInvalid:
                continue
        out.append(row)
print(json.dumps(out))
"""
        res = subprocess.run([sys.executable, "-c", script], env=dict(os.environ, **self.env),
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)


def make_softhsm(directory: Path) -> SoftHSM:
    """A fresh SoftHSM2 token store in `directory` with one initialised token."""
    (directory / "tokens").mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n")
    hsm = SoftHSM(directory, conf)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", hsm.label,
                    "--pin", hsm.pin, "--so-pin", SO_PIN],
                   env=dict(os.environ, **hsm.env), capture_output=True, text=True, check=True, timeout=60)
    return hsm


@pytest.fixture
def softhsm(tmp_path: Path) -> SoftHSM:
    return make_softhsm(tmp_path / "softhsm")


# ---------------------------------------------------------------------------------------
# swtpm
# ---------------------------------------------------------------------------------------

@dataclass
class SwTPM:
    directory: Path
    port: int
    proc: subprocess.Popen | None = None

    @property
    def tcti(self) -> str:
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def tool(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """A tpm2-tools command against this TPM."""
        env = dict(os.environ, TPM2TOOLS_TCTI=self.tcti)
        return subprocess.run([name, *args], env=env, capture_output=True, text=True, check=check, timeout=60)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["swtpm", "socket", "--tpm2",
             "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
             "--ctrl", f"type=tcp,port={self.port + 1},bindaddr=127.0.0.1",
             "--tpmstate", f"dir={self.directory}", "--flags", "not-need-init,startup-clear"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port, self.proc, "swtpm")

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)
            self.proc = None


@pytest.fixture
def swtpm(tmp_path: Path):
    directory = tmp_path / "swtpm"
    directory.mkdir()
    tpm = SwTPM(directory, free_port(2))
    tpm.start()
    try:
        yield tpm
    finally:
        tpm.stop()


# ---------------------------------------------------------------------------------------
# moto_server as a local AWS KMS
# ---------------------------------------------------------------------------------------

REGION = "us-east-1"


@dataclass
class KMS:
    endpoint: str
    access_key: str
    secret_key: str
    proc: subprocess.Popen
    keys: list = field(default_factory=list)

    @property
    def env(self) -> dict:
        # moto_server speaks plain http on loopback: the explicit test setting allows it.
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_REGION": REGION, "CUSTOS_KMS_ALLOW_HTTP": "1"}

    def client(self):
        import boto3
        return boto3.client("kms", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)

    def create_key(self) -> str:
        key_id = self.client().create_key(KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]["KeyId"]
        self.keys.append(key_id)
        return key_id


def start_kms(log: Path) -> KMS:
    """moto_server on a free loopback port, with an IAM user allowed kms:* and SigV4
    authentication enforced from then on. Stop it with stop(kms.proc)."""
    import boto3
    import requests

    moto = Path(sys.executable).parent / "moto_server"
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, "moto_server")
        endpoint = f"http://127.0.0.1:{port}"
        # Before authentication is enforced: an IAM user allowed to use KMS, with an access key.
        iam = boto3.client("iam", endpoint_url=endpoint, region_name=REGION,
                           aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        iam.create_user(UserName="custos")
        iam.put_user_policy(UserName="custos", PolicyName="kms",
                            PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}')
        key = iam.create_access_key(UserName="custos")["AccessKey"]
        # From now on every request must carry a valid SigV4 signature by a known key.
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
        return KMS(endpoint, key["AccessKeyId"], key["SecretAccessKey"], proc)
    except BaseException:
        stop(proc)
        raise


@pytest.fixture(scope="session")
def kms_server(tmp_path_factory):
    kms = start_kms(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield kms
    finally:
        stop(kms.proc)
