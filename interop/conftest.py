"""Fixtures for the interop suite: drive the `custos` binary from outside.

The suite builds nothing. It finds the binary SwiftPM built (`swift build --show-bin-path`,
run from the repository root) and fails at once, with a clear message, if it is missing.
Every test gets a fresh data directory, initialised with a low scrypt cost, and a tenant.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from custos_cli import REPO, SCRYPT_LOG_N, TENANT, Custos
from server import Server

pytest_plugins = ["providers"]


# ---------------------------------------------------------------------------------------
# The binary
# ---------------------------------------------------------------------------------------

def _find_binary() -> Path:
    explicit = os.environ.get("CUSTOS_BIN")
    if explicit:
        return Path(explicit)
    try:
        out = subprocess.run(
            ["swift", "build", "--show-bin-path"],
            cwd=REPO, capture_output=True, text=True, check=True, timeout=120,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.exit(f"interop: cannot ask SwiftPM for the bin path ({e}); is `swift` on PATH?", returncode=2)
    return Path(out) / "custos"


@pytest.fixture(scope="session")
def custos_bin() -> Path:
    path = _find_binary()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.exit(
            f"interop: the custos binary is missing at {path}. Build it first "
            "(`swift build --product custos`, or `make interop` / `make test`).",
            returncode=2,
        )
    return path


@pytest.fixture
def custos(custos_bin: Path, tmp_path: Path) -> Custos:
    c = Custos(custos_bin, tmp_path)
    c.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
    c.run("tenant", "create", TENANT)
    return c


@pytest.fixture
def verifier(custos_bin: Path, tmp_path: Path) -> Custos:
    """A runner with no data directory and no passphrase: `verify --scheme` and
    `verify --batch` must not need them (the test checks nothing gets created)."""
    c = Custos(custos_bin, tmp_path)
    c.env.pop("CUSTOS_PASSPHRASE", None)
    c.env["CUSTOS_DATA_DIR"] = str(tmp_path / "does-not-exist")
    return c


# ---------------------------------------------------------------------------------------
# The suite must test something, and skips nothing.
# ---------------------------------------------------------------------------------------

def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or session.config.option.collectonly:
        return
    passed = len(reporter.stats.get("passed", []))
    skipped = len(reporter.stats.get("skipped", []))
    if skipped and exitstatus == 0:
        reporter.write_line(f"interop: {skipped} test(s) skipped; the interop suite skips nothing", red=True)
        session.exitstatus = 1
    elif passed == 0 and exitstatus == 0:
        reporter.write_line("interop: no test passed", red=True)
        session.exitstatus = 5


def pytest_terminal_summary(terminalreporter):
    """The documentation tests' counts: blocks run and every skipped block with its reason."""
    lines = [value for outcome in ("passed", "failed") for report in terminalreporter.stats.get(outcome, [])
             if getattr(report, "when", None) == "call"
             for key, value in getattr(report, "user_properties", []) if key == "doc-test"]
    if lines:
        terminalreporter.section("documentation blocks")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def server(custos: Custos):
    """A running `custos serve` on the custos fixture's data directory."""
    running = Server(custos).start()
    yield running
    running.stop()
