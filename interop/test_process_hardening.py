"""Process hardening and file modes: no core dump of a process holding keys, a data
directory only its owner can read, refusal to start on one that others can reach."""

from __future__ import annotations

import os
import pty
import resource
import signal
import stat
import subprocess
import termios
import time
from pathlib import Path

from custos_cli import PASSPHRASE, SCRYPT_LOG_N, Custos
from server import Server


def allow_cores():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def core_limit(pid: int) -> tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max core file size"):
            soft, hard = line.split()[4:6]
            return soft, hard
    raise AssertionError("no core limit in /proc/pid/limits")


def test_a_crashing_server_leaves_no_core_file(custos: Custos, tmp_path: Path):
    """The server starts with cores allowed; it drops them itself, so a crash while it
    holds an unlocked key and a token secret writes nothing."""
    crash_dir = tmp_path / "cwd"
    crash_dir.mkdir()
    custos.generate("k", "ed25519")
    server = Server(custos, env={"SWIFT_BACKTRACE": "enable=no"}, preexec=allow_cores, cwd=crash_dir).start()
    try:
        token = server.token("signer", custos.tenant)
        assert server.call("POST", f"/v1/tenants/{custos.tenant}/keys/k/sign", token, {"message": "AA=="}).status_code == 200
        assert core_limit(server.proc.pid) == ("0", "0")
        server.proc.send_signal(signal.SIGABRT)
        assert server.proc.wait(timeout=30) == -signal.SIGABRT
    finally:
        server.stop()
    assert [p.name for p in crash_dir.iterdir()] == []


def test_local_commands_drop_core_dumps_before_reading_the_passphrase(custos: Custos):
    """A local command waits at its passphrase prompt (a pseudo-terminal); by then it may
    no longer dump core."""
    master, slave = pty.openpty()
    env = dict(custos.env)
    env.pop("CUSTOS_PASSPHRASE")
    proc = subprocess.Popen([str(custos.binary), "tenant", "list"], env=env, stdin=slave, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=allow_cores, start_new_session=True)
    os.close(slave)
    try:
        # It cannot get past the prompt until the passphrase is typed below.
        deadline = time.time() + 10
        while time.time() < deadline and core_limit(proc.pid) != ("0", "0"):
            time.sleep(0.05)
        assert proc.poll() is None and core_limit(proc.pid) == ("0", "0")
        # The prompt turns echo off (flushing earlier input): type only after that.
        while time.time() < deadline and termios.tcgetattr(master)[3] & termios.ECHO:
            time.sleep(0.05)
        os.write(master, PASSPHRASE.encode() + b"\n")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert custos.tenant in out.decode()
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_makes_a_private_directory_whatever_the_umask(custos_bin: Path, tmp_path: Path):
    c = Custos(custos_bin, tmp_path)
    c.data_dir.mkdir()
    os.chmod(c.data_dir, 0o777)
    proc = subprocess.run([str(custos_bin), "init", "--scrypt-log-n", SCRYPT_LOG_N], env=c.env, capture_output=True,
                          preexec_fn=lambda: os.umask(0))
    assert proc.returncode == 0, proc.stderr
    assert mode(c.data_dir) == 0o700
    files = list(c.data_dir.iterdir())
    assert files and all(mode(f) == 0o600 for f in files), {f.name: oct(mode(f)) for f in files}
    # The server under the same umask: the database and its -wal/-shm files are private too.
    c.run("tenant", "create", c.tenant)
    server = Server(c, preexec=lambda: os.umask(0)).start()
    try:
        token = server.token("operator", c.tenant)
        assert server.call("POST", f"/v1/tenants/{c.tenant}/keys", token, {"alias": "k", "scheme": "ed25519"}).status_code == 201
        files = {f.name: mode(f) for f in c.data_dir.iterdir()}
        assert {"custos.sqlite-wal", "custos.sqlite-shm"} <= files.keys(), files
        assert all(m == 0o600 for m in files.values()), {n: oct(m) for n, m in files.items()}
    finally:
        server.stop()


def snapshot(directory: Path) -> dict:
    return {p.name: (p.read_bytes(), mode(p)) for p in directory.iterdir()}


def test_others_reaching_the_data_directory_are_refused_at_start(custos: Custos):
    data = custos.data_dir
    cases = [(data, 0o755), (data, 0o770), (data / "root.seal", 0o644), (data / "custos.sqlite", 0o666),
             (data / "custos.sqlite", 0o640)]
    for path, bad in cases:
        good = mode(path)
        os.chmod(path, bad)
        before = snapshot(data)
        for args in (["tenant", "list"], ["serve"]):
            error = custos.fails(*args)
            assert str(path) in error and oct(bad)[2:] in error and "chmod" in error, error
            assert "--allow-insecure-permissions" in error, error
        assert snapshot(data) == before and mode(data) == (bad if path == data else 0o700)
        os.chmod(path, good)
    # Any file in the directory, not only the known ones.
    extra = data / "custos.extra"
    extra.write_bytes(b"x")
    os.chmod(extra, 0o644)
    assert str(extra) in custos.fails("tenant", "list")
    # The explicit override: works, and says so.
    res = custos.run("tenant", "list", "--allow-insecure-permissions")
    assert custos.tenant in res.out and "warning" in res.err.lower() and str(extra) in res.err
    env = dict(custos.env, CUSTOS_ALLOW_INSECURE_PERMISSIONS="1")
    assert custos.tenant in custos.run("tenant", "list", env=env).out
    os.chmod(extra, 0o600)
    assert custos.tenant in custos.run("tenant", "list").out
