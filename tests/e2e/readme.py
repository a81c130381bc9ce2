"""The README's walk-through as data: its bash block, read step by step, so the test
runs exactly what a newcomer copies and checks exactly what the README promises.

The block's grammar is the README's own:

* ``# text`` is prose;
* a command is any other line, with ``\\`` continuations and quotes that span lines;
* ``#   text`` lines right after a command are its documented output. They match the
  real output with white space ignored and ``…`` standing for any text;
* in a command, ``<prefix>…`` (``key_…``, ``snap_…``, ``run_…``, ``inf_…``,
  ``pulse_sk_…``, ``1.0.0-…``) stands for the latest such value the walk has printed —
  what the reader copies from the answer above.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Step", "fill", "matches", "walkthrough"]

_START = "## Walk-through with curl"
_PLACEHOLDER = re.compile(r"\b([a-z_]+_|\d+\.\d+\.\d+-)…")


@dataclass(frozen=True)
class Step:
    command: str
    expected: str | None  # the documented output, or None when the README shows none
    line: int  # where the command starts in the README, for failure messages


def walkthrough(readme: Path) -> list[Step]:
    """The steps of the first bash block after the walk-through's heading."""
    lines = readme.read_text().splitlines()
    start = lines.index(_START)
    opening = next(i for i in range(start, len(lines)) if lines[i].startswith("```bash"))
    end = next(i for i in range(opening + 1, len(lines)) if lines[i].startswith("```"))
    return list(_steps(lines[opening + 1 : end], first_line=opening + 2))


def _steps(lines: list[str], *, first_line: int) -> Iterator[Step]:
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        begin, parts = i, [line]
        while parts[-1].rstrip().endswith("\\") or not _complete("\n".join(parts)):
            i += 1
            parts.append(lines[i])
        i += 1
        output = []
        while i < len(lines) and lines[i].startswith("#   "):
            output.append(lines[i][4:].split("  <-")[0])  # "<- a remark" is not output
            i += 1
        yield Step(command="\n".join(parts), expected="".join(output) or None,
                   line=first_line + begin)


def _complete(command: str) -> bool:
    """Whether the shell would run ``command`` as it is (no quote left open)."""
    try:
        shlex.split(command, comments=True)
    except ValueError:
        return False
    return True


def fill(command: str, printed: str) -> str:
    """``command`` with each ``<prefix>…`` replaced by the latest value of that shape in
    what the walk has printed so far."""

    def latest(match: re.Match[str]) -> str:
        prefix = match.group(1)
        found = re.findall(re.escape(prefix) + r"[A-Za-z0-9]+", printed)
        if not found:
            raise LookupError(f"nothing printed so far looks like {prefix}…")
        return found[-1]

    return _PLACEHOLDER.sub(latest, command)


def matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` is what ``expected`` documents: white space ignored, ``…``
    for any text."""
    squeeze = re.compile(r"\s+")
    pattern = ".*?".join(re.escape(part) for part in squeeze.sub("", expected).split("…"))
    return re.fullmatch(pattern, squeeze.sub("", actual), flags=re.DOTALL) is not None
