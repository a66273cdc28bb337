"""docs/monitoring.md's metric tables, and the families a `/metrics` scrape exposes, so the
tests can hold the two to each other."""
from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "monitoring.md"


def documented() -> dict[str, set[str]]:
    """Family names per section heading, from the first cell of each metric table row."""
    sections: dict[str, set[str]] = {}
    heading = ""
    for line in DOC.read_text().splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
            continue
        match = re.match(r"\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(counter|gauge|histogram)\s*\|", line)
        if match:
            sections.setdefault(heading, set()).add(match.group(1))
    return sections


def documented_types() -> dict[str, str]:
    types = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(counter|gauge|histogram)\s*\|", line)
        if match:
            types[match.group(1)] = match.group(2)
    return types


def families(text: str) -> dict[str, str]:
    """Family name → type, from the `# TYPE` lines; every sample line must belong to one."""
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or (base in types and types[base] == "histogram"), f"sample without a # TYPE line: {line}"
    return types


def samples(text: str) -> dict[str, float]:
    """`name{labels}` → value for every sample line."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            found[key] = float(value)
    return found
