"""How the TPM root talks to the TPM, checked against swtpm: the sealed object needs
its auth value even under a PCR policy, wrong values count towards the dictionary-attack
lockout, and the sessions that carry the root key in and out are salted and encrypted
(read off the wire by a proxy between Custos and swtpm)."""

from __future__ import annotations

import socket
import struct
import threading

from custos_cli import TENANT
from providers import free_port
from test_roots import sign_and_verify, tpm_custos

CC_CREATE, CC_UNSEAL, CC_START_AUTH_SESSION = 0x153, 0x15E, 0x176
TPM_RH_NULL = 0x40000007
SESSION_DECRYPT, SESSION_ENCRYPT = 0x20, 0x40


def lockout_counter(swtpm) -> int:
    out = swtpm.tool("tpm2_getcap", "properties-variable").stdout
    line = next(l for l in out.splitlines() if l.startswith("TPM2_PT_LOCKOUT_COUNTER"))
    return int(line.split(":")[1].strip(), 16)


def test_pcr_policy_still_needs_the_auth_value(custos_bin, tmp_path, swtpm):
    c = tpm_custos(custos_bin, tmp_path)
    c.env["CUSTOS_TPM_AUTH"] = "object-auth-for-tests"
    c.secrets.append("object-auth-for-tests")
    c.run("init", "--root", "tpm", "--tpm-tcti", swtpm.tcti, "--tpm-pcrs", "16")
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    good = dict(c.env)
    # One try each: swtpm locks out after three wrong authorizations.
    without = {k: v for k, v in good.items() if k != "CUSTOS_TPM_AUTH"}
    for env in (dict(good, CUSTOS_TPM_AUTH="wrong-object-auth"), without):
        c.env = env
        res = c.run("root", "status", "--json", expect=1)
        assert res.json()["ready"] is False and "wrong authorization" in res.json()["reason"], res.out
    assert lockout_counter(swtpm) == 2
    c.env = dict(good)
    sign_and_verify(c, ["ed"])


def test_wrong_auth_values_count_towards_lockout(custos_bin, tmp_path, swtpm):
    c = tpm_custos(custos_bin, tmp_path)
    c.env["CUSTOS_TPM_AUTH"] = "object-auth-for-tests"
    c.secrets.append("object-auth-for-tests")
    c.run("init", "--root", "tpm", "--tpm-tcti", swtpm.tcti)
    c.run("tenant", "create", TENANT)
    c.generate("ed", "ed25519")
    assert lockout_counter(swtpm) == 0
    good = dict(c.env)
    c.env = dict(good, CUSTOS_TPM_AUTH="wrong-object-auth")
    c.run("root", "status", expect=1)
    assert lockout_counter(swtpm) == 1
    # swtpm allows 3 failures: after them even the right value is refused (lockout).
    c.run("root", "status", expect=1)
    c.run("root", "status", expect=1)
    c.env = dict(good)
    res = c.run("root", "status", "--json", expect=1)
    assert "lockout" in res.out.lower(), res.out
    swtpm.tool("tpm2_dictionarylockout", "--clear-lockout")
    sign_and_verify(c, ["ed"])


class Recorder:
    """A loopback proxy in front of swtpm's command and control ports; keeps every
    command sent to the TPM."""

    def __init__(self, swtpm):
        self.port = free_port(2)
        self.commands: list[bytes] = []
        self.buffer = b""
        self.servers = []
        for offset in (0, 1):
            server = socket.create_server(("127.0.0.1", self.port + offset))
            self.servers.append(server)
            threading.Thread(target=self.accept, args=(server, swtpm.port + offset, offset == 0), daemon=True).start()

    @property
    def tcti(self) -> str:
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def accept(self, server, target: int, record: bool) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", target))
            threading.Thread(target=self.pipe, args=(client, upstream, record), daemon=True).start()
            threading.Thread(target=self.pipe, args=(upstream, client, False), daemon=True).start()

    def pipe(self, source, sink, record: bool) -> None:
        try:
            while data := source.recv(65536):
                if record:
                    self.buffer += data
                    while len(self.buffer) >= 10 and len(self.buffer) >= struct.unpack(">I", self.buffer[2:6])[0]:
                        size = struct.unpack(">I", self.buffer[2:6])[0]
                        self.commands.append(self.buffer[:size])
                        self.buffer = self.buffer[size:]
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # shutdown, not only close: it wakes the other direction's blocked recv, and
            # swtpm's control port serves one connection at a time.
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        for server in self.servers:
            server.close()

    def with_code(self, code: int) -> list[bytes]:
        return [c for c in self.commands if struct.unpack(">I", c[6:10])[0] == code]


def session_attributes(command: bytes) -> int:
    """The attributes of the first session of a command with one handle."""
    offset = 10 + 4 + 4 + 4  # header, handle, authorization size, session handle
    nonce = struct.unpack(">H", command[offset:offset + 2])[0]
    return command[offset + 2 + nonce]


def test_sessions_are_salted_and_encrypt_the_root_key(custos_bin, tmp_path, swtpm):
    proxy = Recorder(swtpm)
    try:
        c = tpm_custos(custos_bin, tmp_path)
        c.run("init", "--root", "tpm", "--tpm-tcti", proxy.tcti)
        c.run("tenant", "create", TENANT)
        c.generate("ed", "ed25519")
    finally:
        proxy.close()
    creates, unseals = proxy.with_code(CC_CREATE), proxy.with_code(CC_UNSEAL)
    assert creates and unseals
    assert all(session_attributes(c) & SESSION_DECRYPT for c in creates)
    assert all(session_attributes(c) & SESSION_ENCRYPT for c in unseals)
    # Not the password pseudo-session (whose value travels in clear), but a real session...
    TPM_RS_PW = 0x40000009
    for command in creates + unseals:
        assert struct.unpack(">I", command[18:22])[0] != TPM_RS_PW
    # ... and every session Custos starts (no PCRs here, so no trial session) is salted
    # with the storage primary: a tpmKey other than TPM_RH_NULL and an encrypted salt.
    sessions = proxy.with_code(CC_START_AUTH_SESSION)
    assert len(sessions) >= 2
    for s in sessions:
        assert struct.unpack(">I", s[10:14])[0] != TPM_RH_NULL
        nonce = struct.unpack(">H", s[18:20])[0]
        salt = struct.unpack(">H", s[20 + nonce:22 + nonce])[0]
        assert salt > 0
