"""Runs the command blocks of Markdown documentation, so the docs cannot drift from the binary.

The rules (also in README.md, "Testing"):
  * every fenced block whose info string is exactly `sh` is run; other fences (`text`, `json`,
    `console`, no info string …) are not;
  * all blocks of one file run in order in ONE bash process with `set -euo pipefail`, in a
    fresh empty directory that is also $HOME, with `custos` on PATH, CUSTOS_PASSPHRASE set and
    no other CUSTOS_* variable inherited; stdin is /dev/null;
  * `<!-- doc-test: COMMANDS -->` (one line or several) is hidden shell run at that point;
  * `<!-- doc-test: skip REASON -->` on the line right before a fence skips that block;
  * the process runs in its own process group, which is sent SIGTERM and then SIGKILL at the
    end, so servers started in the background do not outlive the test.

Usable from the command line to try a document: python3 interop/doc_runner.py [--custos BIN] FILE.md…
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PASSPHRASE = "doc-test-passphrase-not-a-secret"
FILE_TIMEOUT_SECONDS = 420.0   # scrypt (N = 2^16) runs in every command that opens the keystore: ~2 s in a debug build
TERM_GRACE_SECONDS = 5.0
OUTPUT_TAIL_LINES = 40

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_HIDDEN_OPEN = "<!-- doc-test:"
_HIDDEN_CLOSE = "-->"


class DocFormatError(ValueError):
    """A doc-test comment the runner cannot honour (a skip without a fence, no reason…)."""


@dataclass
class Step:
    """One piece of shell in document order: a visible `sh` block or a hidden comment."""
    kind: str          # "block" or "hidden"
    line: int          # 1-based line of the fence or comment in the Markdown file
    code: list[str]    # the shell lines
    first_code_line: int  # Markdown line of code[0]


@dataclass
class Skipped:
    line: int
    reason: str


@dataclass
class ParsedDoc:
    steps: list[Step] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def blocks(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "block"]


def parse(text: str) -> ParsedDoc:
    """Splits Markdown into the shell steps to run and the blocks skipped (with reasons)."""
    lines = text.splitlines()
    doc = ParsedDoc()
    pending_skip: tuple[int, str] | None = None   # (line of comment end, reason)
    i = 0
    while i < len(lines):
        line = lines[i]
        opened = _FENCE_OPEN.match(line)
        if opened:
            indent, fence, info = opened["indent"], opened["fence"], opened["info"].strip()
            start = i
            body: list[str] = []
            i += 1
            while i < len(lines):
                stripped = lines[i].strip()
                if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                    break
                body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
                i += 1
            skip = pending_skip if pending_skip and pending_skip[0] == start - 1 else None
            if pending_skip and not skip:
                raise DocFormatError(f"line {pending_skip[0] + 1}: `doc-test: skip` must be on the line right before a fence")
            pending_skip = None
            if skip:
                if info != "sh":
                    raise DocFormatError(f"line {skip[0] + 1}: `doc-test: skip` before a `{info}` fence, which is never run")
                doc.skipped.append(Skipped(start + 1, skip[1]))
            elif info == "sh":
                doc.steps.append(Step("block", start + 1, body, start + 2))
            i += 1  # past the closing fence
            continue
        if line.lstrip().startswith(_HIDDEN_OPEN):
            if pending_skip:
                raise DocFormatError(f"line {pending_skip[0] + 1}: `doc-test: skip` must be on the line right before a fence")
            start = i
            content = line.lstrip()[len(_HIDDEN_OPEN):]
            chunk = [content]
            while _HIDDEN_CLOSE not in chunk[-1]:
                i += 1
                if i >= len(lines):
                    raise DocFormatError(f"line {start + 1}: `<!-- doc-test:` comment never closed")
                chunk.append(lines[i])
            chunk[-1] = chunk[-1][:chunk[-1].index(_HIDDEN_CLOSE)]
            if chunk[-1].strip() == "" and len(chunk) > 1:
                chunk.pop()
            head = chunk[0].strip()
            if head == "skip" or head.startswith("skip "):
                reason = " ".join(c.strip() for c in chunk)[len("skip"):].strip()
                if not reason:
                    raise DocFormatError(f"line {start + 1}: `doc-test: skip` needs a reason")
                pending_skip = (i, reason)
            else:
                # The first chunk starts after "doc-test:" on the comment's own line.
                doc.steps.append(Step("hidden", start + 1, chunk, start + 1))
            i += 1
            continue
        if pending_skip and line.strip():
            raise DocFormatError(f"line {pending_skip[0] + 1}: `doc-test: skip` must be on the line right before a fence")
        i += 1
    if pending_skip:
        raise DocFormatError(f"line {pending_skip[0] + 1}: `doc-test: skip` must be on the line right before a fence")
    return doc


@dataclass
class RunResult:
    name: str
    ok: bool
    run: int                  # visible blocks started
    total: int                # visible blocks to run
    skipped: list[Skipped]
    message: str = ""         # why it failed, with the output's tail
    output: str = ""

    def summary(self) -> str:
        text = f"{self.name}: {self.run}/{self.total} block(s) run, {len(self.skipped)} skipped"
        for s in self.skipped:
            text += f"\n  skipped block at line {s.line}: {s.reason}"
        return text


_PRELUDE = r'''set -euo pipefail
__doc_test_trace() { printf '%s\n' "$*" >> "$__DOC_TEST_TRACE"; }
__doc_test_on_error() { local rc=$?; __doc_test_trace "failed	$rc	$1	${2//$'\n'/ }"; }
trap '__doc_test_on_error "$LINENO" "$BASH_COMMAND"' ERR
'''


def build_script(doc: ParsedDoc) -> tuple[str, dict[int, int]]:
    """The bash script for a parsed doc and a map from script line to Markdown line."""
    out = _PRELUDE.splitlines()
    origin: dict[int, int] = {}
    for index, step in enumerate(doc.steps):
        out.append(f"__doc_test_trace 'step	{index}'")
        for offset, code in enumerate(step.code):
            out.append(code)
            origin[len(out)] = step.first_code_line + offset
    out.append("__doc_test_trace complete")
    return "\n".join(out) + "\n", origin


def _kill_group(pgid: int) -> None:
    """SIGTERM to the whole group, then SIGKILL to whatever is left after a grace period."""
    for sig, wait in ((signal.SIGTERM, TERM_GRACE_SECONDS), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def _tail(text: str, n: int = OUTPUT_TAIL_LINES) -> str:
    lines = text.splitlines()
    cut = lines[-n:]
    prefix = f"  … ({len(lines) - n} earlier line(s))\n" if len(lines) > n else ""
    return prefix + "\n".join("  | " + line for line in cut)


def run_doc(text: str, name: str, custos_bin: Path | None, workdir: Path,
            timeout: float = FILE_TIMEOUT_SECONDS, extra_env: dict[str, str] | None = None) -> RunResult:
    """Runs every `sh` block of one Markdown text; `workdir` must be a fresh directory."""
    doc = parse(text)
    blocks = doc.blocks
    home = workdir / "home"
    meta = workdir / "doc-test"
    bindir = meta / "bin"
    home.mkdir(parents=True)
    bindir.mkdir(parents=True)
    if custos_bin is not None:
        (bindir / "custos").symlink_to(custos_bin)
    script, origin = build_script(doc)
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    script_path = meta / f"{safe_name}.sh"
    script_path.write_text(script)
    trace = meta / "trace"
    trace.touch()
    log_path = meta / "output.log"

    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env.update(HOME=str(home), PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
               CUSTOS_PASSPHRASE=PASSPHRASE, __DOC_TEST_TRACE=str(trace))
    env.pop("OLDPWD", None)
    env.update(extra_env or {})

    # A binary that takes ~ from the password database instead of $HOME would put a
    # document's default data directory in the real home: noticed, never deleted here.
    real_default = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".custos"
    real_default_before = real_default.exists()

    timed_out = False
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["bash", str(script_path)], cwd=home, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            code = None
        finally:
            _kill_group(proc.pid)
            proc.wait()
    output = log_path.read_text(errors="replace")
    # Bash names the script and its line; say the Markdown file and line instead.
    output = re.sub(re.escape(str(script_path)) + r": line (\d+):",
                    lambda m: f"{name}:{origin.get(int(m[1]), '?')}:", output)

    events = trace.read_text().splitlines()
    reached = [int(e.split("\t")[1]) for e in events if e.startswith("step\t")]
    current = doc.steps[reached[-1]] if reached else None
    run = sum(1 for i in set(reached) if doc.steps[i].kind == "block")
    complete = "complete" in events
    result = RunResult(name, ok=False, run=run, total=len(blocks), skipped=doc.skipped, output=output)
    where = (f"{'hidden doc-test comment' if current.kind == 'hidden' else 'block'} at {name}:{current.line}"
             if current else f"{name} (before the first block)")

    if timed_out:
        result.message = f"{where}: still running after {timeout:.0f} s (the file's time bound)"
    elif code != 0 or not complete:
        failures = [e.split("\t", 3) for e in events if e.startswith("failed\t")]
        detail = ""
        if failures:
            _, rc, script_line, command = failures[0]
            md_line = origin.get(int(script_line), "?")
            source = script.splitlines()[int(script_line) - 1].strip() if int(script_line) in origin else command
            detail = f"\n  command ({name}:{md_line}, exit {rc}): {source}"
            if command.strip() not in source:
                detail += f"\n  (the part that failed: {command})"
        elif code == 0:
            detail = "\n  the shell exited before the last block (an `exit` in the document?)"
        else:
            detail = f"\n  bash exited {code}"
        result.message = f"{where} failed{detail}\n  output (tail):\n{_tail(output)}"
    else:
        result.ok = True
    if not real_default_before and real_default.exists():
        result.ok = False
        result.message = (f"{name}: created {real_default}, outside the test's $HOME ({home}): custos took its "
                          f"default data directory from the password database\n{result.message}").rstrip()
    return result


def run_file(path: Path, name: str, custos_bin: Path | None, timeout: float = FILE_TIMEOUT_SECONDS,
             keep: bool = False) -> RunResult:
    workdir = Path(tempfile.mkdtemp(prefix="custos-doc-test-"))
    try:
        return run_doc(path.read_text(), name, custos_bin, workdir, timeout)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def doc_files(repo: Path) -> list[Path]:
    """README.md and every Markdown file under docs/, in a stable order."""
    return [repo / "README.md", *sorted((repo / "docs").rglob("*.md"))]


def main(argv: list[str]) -> int:
    import argparse
    parser = argparse.ArgumentParser(description="Run the `sh` blocks of Markdown files as the doc tests do.")
    parser.add_argument("--custos", type=Path, default=os.environ.get("CUSTOS_BIN"),
                        help="the custos binary (default: $CUSTOS_BIN)")
    parser.add_argument("--timeout", type=float, default=FILE_TIMEOUT_SECONDS)
    parser.add_argument("--keep", action="store_true", help="keep each file's temporary directory")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.custos is None:
        parser.error("give --custos BIN or set CUSTOS_BIN")
    failed = 0
    for path in args.files:
        result = run_file(path, str(path), args.custos.resolve(), args.timeout, args.keep)
        print(result.summary())
        if not result.ok:
            failed += 1
            print(result.message)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
