"""The release's service unit and sample configuration, checked against the binary: the unit
passes `systemd-analyze verify`; its ExecStart runs as written, with the passphrase from a
credentials directory (LoadCredential=) and the sample configuration; and the server works
under what the unit's MemoryDenyWriteExecute= and SystemCallFilter= allow (the first enforced
by the kernel's PR_SET_MDWE, the second checked against every system call strace sees)."""

from __future__ import annotations

import ctypes
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from custos_cli import PASSPHRASE, REPO

UNIT = REPO / "packaging" / "custos.service"
SYSUSERS = REPO / "packaging" / "custos.sysusers"
SAMPLE_CONFIG = REPO / "packaging" / "custos.json"
INSTALLED_BINARY = "/usr/local/bin/custos"

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def service_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def deny_write_execute():
    """What MemoryDenyWriteExecute=yes does, from the kernel itself (Linux 6.3+): no mapping
    may become both writable and executable, nor executable later. Kept across execve."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE) failed: the kernel is older than 6.3")


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    assert path, "systemd-analyze is missing: `make deps` installs Debian's systemd package"
    return path


def test_the_unit_passes_systemd_analyze_verify(custos_bin: Path, tmp_path: Path):
    # verify also checks that ExecStart's program exists: point it at the built binary.
    unit = tmp_path / "custos.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED_BINARY, str(custos_bin)))
    result = subprocess.run([systemd_analyze(), "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", f"warnings: {result.stdout}{result.stderr}"
    # The same check finds a wrong value, so its silence above means something.
    broken = tmp_path / "broken.service"
    broken.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=sometimes"))
    refused = subprocess.run([systemd_analyze(), "verify", str(broken)], capture_output=True, text=True, timeout=120)
    assert "protect system value" in refused.stderr and "sometimes" in refused.stderr, refused.stderr


def test_the_sysusers_snippet_makes_the_units_user(tmp_path: Path):
    assert service_settings()["User"] == ["custos"]
    result = subprocess.run(["systemd-sysusers", "--dry-run", str(SYSUSERS)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # Either it would create the user, or the user already exists here.
    assert "custos" in result.stdout + result.stderr or _user_exists("custos"), result.stdout + result.stderr


def _user_exists(name: str) -> bool:
    import pwd
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_exec_start_uses_only_options_serve_accepts(custos_bin: Path):
    settings = service_settings()
    [exec_start] = settings["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[:2] == [INSTALLED_BINARY, "serve"], argv
    help_text = subprocess.run([str(custos_bin), "serve", "--help"], capture_output=True, text=True, timeout=60).stdout
    options = [arg for arg in argv[2:] if arg.startswith("--")]
    assert options, argv
    for option in options:
        assert re.search(rf"(^|\s){re.escape(option)}(\s|$)", help_text), f"{option} is not an option of custos serve:\n{help_text}"
    # The passphrase comes from the credential the unit loads, and the data directory is its StateDirectory.
    [credential] = settings["LoadCredential"]
    name = credential.split(":", 1)[0]
    assert argv[argv.index("--passphrase-file") + 1] == f"%d/{name}"
    assert settings["StateDirectory"] == ["custos"]
    assert argv[argv.index("--data-dir") + 1] == "/var/lib/custos"


def test_the_kernel_refuses_writable_executable_memory_under_the_policy():
    """The control for the tests below: under PR_SET_MDWE a W+X mapping really fails."""
    code = ("import ctypes, mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC); "
            "print('mapped')")
    allowed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert allowed.returncode == 0 and "mapped" in allowed.stdout, allowed.stderr
    refused = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, preexec_fn=deny_write_execute)
    assert refused.returncode != 0 and "PermissionError" in refused.stderr, refused.stdout + refused.stderr


class InstalledLayout:
    """The unit's paths in a temporary directory: the state directory, the credentials
    directory with the passphrase (mode 0400, as systemd makes it), the sample configuration."""

    def __init__(self, custos_bin: Path, tmp_path: Path):
        self.binary = custos_bin
        self.state = tmp_path / "state"
        self.credentials = tmp_path / "credentials"
        self.credentials.mkdir(mode=0o700)
        passphrase = self.credentials / "passphrase"
        passphrase.write_text(PASSPHRASE + "\n")
        passphrase.chmod(0o400)
        self.config = tmp_path / "custos.json"
        shutil.copy(SAMPLE_CONFIG, self.config)
        # No secret or data directory from the environment: only what the unit gives.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
        self.env["HOME"] = str(tmp_path)

    def exec_start(self) -> list[str]:
        [exec_start] = service_settings()["ExecStart"]
        argv = shlex.split(exec_start.replace("%d", str(self.credentials)))
        replaced = {INSTALLED_BINARY: str(self.binary), "/var/lib/custos": str(self.state), "/etc/custos/custos.json": str(self.config)}
        return [replaced.get(arg, arg) for arg in argv]

    def custos(self, *args: str) -> str:
        result = subprocess.run([str(self.binary), *args, "--data-dir", str(self.state),
                                 "--passphrase-file", str(self.credentials / "passphrase")],
                                env=self.env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"custos {' '.join(args)}: {result.stderr}"
        return result.stdout

    def prepare(self):
        """docs/install.md's first start: init, the tenant, and the API certificate the sample
        configuration names (tls.key node-1/api-tls), issued by a tenant CA in the keystore."""
        self.custos("init", "--scrypt-log-n", "10")
        self.custos("tenant", "create", "node-1")
        self.custos("tls", "ca", "create", "--tenant", "node-1", "--alias", "api-ca", "--subject", "CN=Custos API CA")
        self.custos("tls", "issue", "--tenant", "node-1", "--alias", "api-tls", "--issuer", "api-ca", "--subject", "CN=localhost",
                    "--ip", "127.0.0.1", "--usage", "server", "--days", "90")
        self.custos("key", "generate", "--tenant", "node-1", "--alias", "k", "--scheme", "ed25519")
        ca = self.state.parent / "api-ca.pem"
        ca.write_text(self.custos("tls", "export", "--tenant", "node-1", "--alias", "api-ca"))
        token = re.search(r'"bearer":"([^"]+)"', self.custos("token", "create", "--tenant", "node-1", "--role", "signer", "--ttl", "1h", "--json"))
        assert token
        return ca, token.group(1)

    def serve(self, wrapper: list[str] | None = None, preexec=None) -> tuple[subprocess.Popen, str]:
        # The sample's port 8700 may be taken here; the environment overrides the file.
        env = dict(self.env, CUSTOS_SERVER_PORT="0")
        proc = subprocess.Popen([*(wrapper or []), *self.exec_start()], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, preexec_fn=preexec)
        deadline = time.time() + 120
        while time.time() < deadline:
            line = proc.stdout.readline().decode()
            if not line:
                raise AssertionError(f"custos serve exited early ({proc.wait()}): {proc.stderr.read().decode()[-3000:]}")
            match = re.search(r"listening on (https://[\d.]+:\d+)", line)
            if match:
                return proc, match.group(1)
        proc.kill()
        raise AssertionError("custos serve did not report its address")


def sign_over_tls(url: str, ca: Path, token: str) -> dict:
    import base64
    live = requests.get(url + "/v1/health/live", verify=str(ca), timeout=30)
    assert live.status_code == 200, live.text
    response = requests.post(url + "/v1/tenants/node-1/keys/k/sign", verify=str(ca), timeout=30,
                             headers={"Authorization": f"Bearer {token}"}, json={"message": base64.b64encode(b"packaged").decode()})
    assert response.status_code == 200, response.text
    return response.json()


def test_exec_start_runs_as_written_under_memory_deny_write_execute(custos_bin: Path, tmp_path: Path):
    layout = InstalledLayout(custos_bin, tmp_path)
    ca, token = layout.prepare()
    proc, url = layout.serve(preexec=deny_write_execute)
    try:
        assert sign_over_tls(url, ca, token)["signature"]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, proc.stderr.read().decode()[-3000:]


def syscall_groups(analyze: str) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    current = None
    for line in subprocess.run([analyze, "syscall-filter"], capture_output=True, text=True, check=True).stdout.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), set())
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.add(line.strip())
    return groups


def expand(name: str, groups: dict[str, set[str]]) -> set[str]:
    if not name.startswith("@"):
        return {name}
    return set().union(*(expand(member, groups) for member in groups[name]))


def test_the_server_makes_no_system_call_the_units_filter_refuses(custos_bin: Path, tmp_path: Path):
    strace = shutil.which("strace")
    assert strace, "strace is missing: `make deps` installs it"
    groups = syscall_groups(systemd_analyze())
    allowed: set[str] = set()
    for value in service_settings()["SystemCallFilter"]:
        if value.startswith("~"):
            for name in value[1:].split():
                allowed -= expand(name, groups)
        else:
            for name in value.split():
                allowed |= expand(name, groups)
    assert "read" in allowed and "reboot" not in allowed
    layout = InstalledLayout(custos_bin, tmp_path)
    ca, token = layout.prepare()
    trace = tmp_path / "trace"
    proc, url = layout.serve(wrapper=[strace, "-f", "-qq", "-o", str(trace)])
    try:
        sign_over_tls(url, ca, token)
    finally:
        # SIGTERM to the server itself: strace would only detach from it.
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        for child in children:
            os.kill(int(child), signal.SIGTERM)
        code = proc.wait(timeout=120)
    assert code == 0, proc.stderr.read().decode()[-3000:]
    used = set(re.findall(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]", trace.read_text(), re.M)) - {"exited", "killed"}
    assert {"execve", "openat", "epoll_wait"} & used, sorted(used)
    if os.geteuid() == 0:
        # SQLite gives a new journal file its database's owner when it runs as root (and ignores a
        # refusal); the unit runs as the custos user, where it makes no such call.
        used.discard("fchown")
    refused = sorted(used - allowed)
    assert not refused, f"system calls SystemCallFilter= would refuse: {refused}"


def test_the_sample_configuration_in_install_md_is_the_shipped_one():
    import json
    text = (REPO / "docs" / "install.md").read_text()
    match = re.search(r"cat > custos\.json <<'EOF'\n(.*?)\nEOF\n", text, re.S)
    assert match, "docs/install.md no longer shows the sample configuration"
    assert json.loads(match.group(1)) == json.loads(SAMPLE_CONFIG.read_text())
