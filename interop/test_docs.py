"""The documentation's `sh` blocks run as tests (rules in doc_runner.py), one test per file,
and the runner itself is tested on small synthetic documents."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from custos_cli import REPO
from doc_runner import FILE_TIMEOUT_SECONDS, DocFormatError, doc_files, parse, run_doc

# All documents together stay within this bound (each one also within its own).
TOTAL_TIMEOUT_SECONDS = 1800.0
_started = time.monotonic()

DOCS = doc_files(REPO)


def _record(request, result) -> None:
    """Run and skip counts for the terminal summary (conftest.py prints them)."""
    request.node.user_properties.append(("doc-test", result.summary()))


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(REPO)) for p in DOCS])
def test_doc_blocks_run(path: Path, custos_bin: Path, tmp_path: Path, request):
    remaining = TOTAL_TIMEOUT_SECONDS - (time.monotonic() - _started)
    assert remaining > 10, f"the documents' total time bound ({TOTAL_TIMEOUT_SECONDS:.0f} s) is used up"
    name = str(path.relative_to(REPO))
    result = run_doc(path.read_text(), name, custos_bin, tmp_path, timeout=min(FILE_TIMEOUT_SECONDS, remaining))
    _record(request, result)
    assert result.ok, result.message


# ---------------------------------------------------------------------------------------
# The runner on synthetic Markdown (bash only, no custos)
# ---------------------------------------------------------------------------------------

def _run(tmp_path: Path, text: str, timeout: float = 30):
    return run_doc(text, "doc.md", None, tmp_path, timeout=timeout)


def test_runner_passes_blocks_in_one_shell_and_ignores_other_fences(tmp_path):
    result = _run(tmp_path, """# Title

```sh
export GREETING=hello
echo first > out.txt
```

```text
this is not run && exit 3
```

```console
$ false
```

```
false
```

```bash
exit 4
```

~~~text
<!-- doc-test: exit 5 -->
~~~

````markdown
```sh
exit 6
```
````

```sh
test "$GREETING" = hello          # the same shell as the first block
test "$(cat out.txt)" = first
test "$HOME" = "$PWD"
test -z "${CUSTOS_DATA_DIR:-}"
test -n "$CUSTOS_PASSPHRASE"
```
""")
    assert result.ok, result.message
    assert (result.run, result.total, result.skipped) == (2, 2, [])


def test_runner_fails_on_a_failing_command_and_names_it(tmp_path):
    result = _run(tmp_path, """intro

```sh
echo before
false && true
```

```sh
echo fine
ls /does/not/exist
echo never
```
""")
    assert not result.ok
    assert "block at doc.md:8" in result.message
    assert "command (doc.md:10, exit 2): ls /does/not/exist" in result.message
    assert "never" not in result.output


def test_runner_stops_at_the_first_failing_block(tmp_path):
    result = _run(tmp_path, """```sh
echo one
```

```sh
(exit 7)
```

```sh
touch ran-after-failure
```
""")
    assert not result.ok
    assert "block at doc.md:5" in result.message and "exit 7" in result.message
    assert (result.run, result.total) == (2, 3)
    assert not (tmp_path / "home" / "ran-after-failure").exists()


def test_runner_applies_pipefail_and_nounset(tmp_path):
    pipe = _run(tmp_path / "a", "```sh\nfalse | cat\n```\n")
    assert not pipe.ok and "(doc.md:2, exit 1): false | cat" in pipe.message
    unset = _run(tmp_path / "b", "```sh\necho \"$NOT_SET_ANYWHERE\"\n```\n")
    assert not unset.ok and "doc.md:2: NOT_SET_ANYWHERE: unbound variable" in unset.message


def test_runner_honours_and_lists_skips(tmp_path):
    result = _run(tmp_path, """<!-- doc-test: skip needs a real HSM -->
```sh
exit 1
```

```sh
echo runs
```
""")
    assert result.ok, result.message
    assert (result.run, result.total) == (1, 1)
    assert [(s.line, s.reason) for s in result.skipped] == [(2, "needs a real HSM")]
    assert "skipped block at line 2: needs a real HSM" in result.summary()


def test_runner_runs_hidden_setup_one_line_and_several(tmp_path):
    result = _run(tmp_path, """<!-- doc-test: export ONE=1 -->

<!-- doc-test:
export TWO=2
printf x > made-by-hidden
-->

```sh
test "$ONE$TWO" = 12
test -f made-by-hidden
```
""")
    assert result.ok, result.message
    assert (result.run, result.total) == (1, 1)


def test_runner_reports_a_failing_hidden_comment(tmp_path):
    result = _run(tmp_path, "<!-- doc-test: test 1 = 2 -->\n\n```sh\ntrue\n```\n")
    assert not result.ok
    assert "hidden doc-test comment at doc.md:1" in result.message
    assert result.run == 0


def test_runner_refuses_an_early_exit(tmp_path):
    result = _run(tmp_path, "```sh\nexit 0\n```\n\n```sh\ntrue\n```\n")
    assert not result.ok and "exited before the last block" in result.message


def test_runner_kills_background_processes_and_bounds_time(tmp_path):
    pid_file = tmp_path / "sleeper.pid"
    result = _run(tmp_path, f"```sh\nsleep 300 &\necho $! > {pid_file}\n```\n")
    assert result.ok, result.message
    pid = int(pid_file.read_text())
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    started = time.monotonic()
    slow = _run(tmp_path / "slow", "```sh\nsleep 300\n```\n", timeout=2)
    assert not slow.ok and "still running after 2 s" in slow.message
    assert time.monotonic() - started < 20


def test_runner_strips_list_indentation(tmp_path):
    result = _run(tmp_path, "- a step:\n\n  ```sh\n  echo indented > f\n  ```\n\n```sh\ntest -f f\n```\n")
    assert result.ok, result.message
    assert result.total == 2


@pytest.mark.parametrize("text, problem", [
    ("<!-- doc-test: skip -->\n```sh\ntrue\n```\n", "needs a reason"),
    ("<!-- doc-test: skip no fence follows -->\n\ntext\n", "right before a fence"),
    ("<!-- doc-test: skip an output -->\n```text\nx\n```\n", "never run"),
    ("<!-- doc-test: echo unclosed\n", "never closed"),
])
def test_runner_refuses_malformed_comments(text, problem):
    with pytest.raises(DocFormatError, match=problem):
        parse(text)

