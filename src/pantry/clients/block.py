"""The pantry block: lines pantry owns inside a config file it otherwise leaves alone.

Python has no TOML or YAML writer, and re-serialising a user's file would lose its
comments and layout.  So pantry writes only between two marker comments it recognises
again later (``#`` starts a comment in both TOML and YAML)::

    # >>> pantry: managed by `pantry setup uv`; `pantry setup uv --undo` restores the file
    [[index]]
    ...
    # <<< pantry

The block goes at the end of the file, where a TOML table header or a top-level YAML
key is always valid, and a second run replaces it in place, so writing twice gives the
same bytes.  TOML results are parsed again with ``tomllib`` before anyone writes them;
YAML callers check the lines themselves (pantry has no YAML parser).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pantry.clients.base import ClientConfigError

BEGIN = "# >>> pantry"
END = "# <<< pantry"

TomlCheck = Callable[[dict[str, object]], str | None]
"""Looks at parsed TOML; returns a one-line problem, or None when all is well."""


@dataclass(frozen=True, slots=True)
class _Split:
    before: str
    block: str  # "" when the file has no pantry block
    after: str


def edit_toml(
    text: str | None,
    *,
    client: str,
    body: Sequence[str],
    conflict: TomlCheck,
    verify: TomlCheck,
) -> str:
    """``text`` with the pantry block set to ``body``.

    ``conflict`` is run on the file without the block (a setting there that would fight
    the block is refused); ``verify`` on the result (it must show the block took effect).
    """
    outside = outside_block(text)
    problem = conflict(_parse(outside, "the existing file"))
    if problem is not None:
        raise ClientConfigError(problem)
    result = set_block(text, client=client, body=body)
    problem = verify(_parse(result, "the edited file"))
    if problem is not None:
        raise ClientConfigError(f"the edited file would not work ({problem}); edit it by hand")
    return result


def outside_block(text: str | None) -> str:
    """``text`` without pantry's block; raises ClientConfigError when the markers are damaged."""
    split = _split(text or "")
    return split.before + split.after


def set_block(text: str | None, *, client: str, body: Sequence[str]) -> str:
    """``text`` with the pantry block holding ``body``: replaced in place, else appended."""
    split = _split(text or "")
    outside = split.before + split.after
    newline = "\r\n" if "\r\n" in outside else "\n"
    header = f"{BEGIN}: managed by `pantry setup {client}`; `--undo` restores the file"
    block = newline.join([header, *body, END]) + newline
    # In place when present, so a second write gives the same bytes.
    if split.block:
        return split.before + block + split.after
    return _append(outside, block, newline)


def _append(text: str, block: str, newline: str) -> str:
    if not text.strip():
        return block
    if not text.endswith(("\n", "\r")):
        text += newline
    return text + newline + block


def _split(text: str) -> _Split:
    """Cut ``text`` around its pantry block; raise when the markers are not one clean pair."""
    lines = text.splitlines(keepends=True)
    begins = [i for i, line in enumerate(lines) if line.strip().startswith(BEGIN)]
    ends = [i for i, line in enumerate(lines) if line.strip().startswith(END)]
    if not begins and not ends:
        return _Split(text, "", "")
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise ClientConfigError(
            f"the file's {BEGIN!r} / {END!r} markers are damaged; fix or remove them by hand"
        )
    start, stop = begins[0], ends[0] + 1
    return _Split("".join(lines[:start]), "".join(lines[start:stop]), "".join(lines[stop:]))


def _parse(text: str, what: str) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ClientConfigError(f"{what} is not valid TOML ({exc}); fix it first") from exc
