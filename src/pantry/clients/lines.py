"""Line-level editing of flat key/value config files (``.npmrc``, ``.yarnrc``).

Both files are read one line at a time by their clients, so pantry edits them the same
way: the client module says which lines set the key, and this module puts one new line
in place of the first of them, drops the others (the last one would win otherwise), or
inserts the line when there is none.  Every other line keeps its bytes, which matters
for the auth tokens these files hold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_ENDINGS = "\r\n"


def split_lines(text: str) -> list[str]:
    """``text`` cut after each ``\\r\\n``, ``\\r`` or ``\\n``, each line keeping its ending.

    Unlike ``str.splitlines`` this leaves form feeds and other Unicode breaks inside a
    line, as npm's ini reader and yarn's rc reader do.
    """
    return _LINE.findall(text)


def newline_of(text: str) -> str:
    """The line ending to use for new lines: CRLF when the file already uses it."""
    return "\r\n" if "\r\n" in text else "\n"


def set_entry(
    lines: Sequence[str], *, found: Sequence[int], entry: str, insert_at: int, newline: str
) -> str:
    """The file with ``entry`` (one line, no ending) as its only line for the key.

    ``found`` are the indexes of the lines that set the key now: the first is replaced,
    keeping its place and ending, the rest are dropped.  With none, ``entry`` is inserted
    before line ``insert_at`` (``len(lines)``: at the end).
    """
    edited = list(lines)
    if found:
        first, *rest = found
        ending = edited[first][len(edited[first].rstrip(_ENDINGS)) :]
        edited[first] = entry + ending
        for index in sorted(rest, reverse=True):
            del edited[index]
        return "".join(edited)
    if insert_at > 0 and not edited[insert_at - 1].endswith(tuple(_ENDINGS)):
        edited[insert_at - 1] += newline
    edited.insert(insert_at, entry + newline)
    return "".join(edited)


def others_unchanged(
    before: Sequence[str],
    before_found: Sequence[int],
    after: Sequence[str],
    after_found: Sequence[int],
) -> bool:
    """True when every line but the key's reads the same before and after the edit.

    Endings are left out of the comparison: a last line may have gained one.
    """

    def others(lines: Sequence[str], found: Sequence[int]) -> list[str]:
        skip = set(found)
        return [line.rstrip(_ENDINGS) for i, line in enumerate(lines) if i not in skip]

    return others(before, before_found) == others(after, after_found)
