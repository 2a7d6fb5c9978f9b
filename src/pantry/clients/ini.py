"""Line-level editing of INI files (pip.conf) that keeps every other byte as it was.

``configparser`` can read but not faithfully write: it drops comments and reflows
values.  So the file is validated with ``configparser`` (the same ``RawConfigParser``
pip uses), then scanned here with the same line rules (full-line ``#``/``;`` comments,
continuation lines indented deeper than their option, blank lines inside values), and
only the lines of the options being set are replaced or inserted.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Callable
from dataclasses import dataclass

from pantry.clients.base import ClientConfigError

_HEADER = re.compile(r"\[(?P<header>.+)\]")  # configparser's SECTCRE
_OPTION = re.compile(r"(?P<option>.*?)\s*(?P<vi>=|:)\s*(?P<value>.*)$")  # its OPTCRE
_COMMENT_PREFIXES = ("#", ";")

Settings = dict[str, dict[str, str]]
"""Section name -> option name -> raw value, as ``configparser`` sees the file."""


@dataclass(slots=True)
class _Option:
    name: str  # as written, stripped
    start: int  # index of its first line
    end: int  # one past its last continuation line


@dataclass(slots=True)
class _Section:
    name: str
    header: int  # index of the header line
    options: list[_Option]


def parse(text: str) -> configparser.RawConfigParser:
    """``text`` read as pip reads it; raises ClientConfigError when pip would reject it."""
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ClientConfigError(f"not a valid INI file ({reason}); fix it first") from exc
    return parser


def settings(parser: configparser.RawConfigParser) -> Settings:
    """Every section's options, defaults folded in as pip sees them."""
    found = {section: dict(parser.items(section)) for section in parser.sections()}
    found[parser.default_section] = dict(parser.defaults())
    return found


def set_option(
    text: str, section: str, key: str, value: str, *, same: Callable[[str], bool]
) -> str:
    """``text`` with ``key = value`` in ``section``, replacing every option ``same`` accepts.

    The first replaced option keeps its place and indentation; a new option goes after
    the section's last option; a missing section is appended at the end.
    """
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if "\r\n" in text else "\n"
    found = next((s for s in _scan(lines) if s.name == section), None)
    if found is None:
        head = "".join(lines)
        if head and not head.endswith(("\n", "\r")):
            head += newline
        gap = newline if head.strip() else ""
        return f"{head}{gap}[{section}]{newline}{key} = {value}{newline}"
    matches = [option for option in found.options if same(option.name)]
    for option in reversed(matches[1:]):
        del lines[option.start : option.end]
    if matches:
        first = matches[0]
        indent = lines[first.start][: len(lines[first.start]) - len(lines[first.start].lstrip())]
        lines[first.start : first.end] = [f"{indent}{key} = {value}{newline}"]
        return "".join(lines)
    at = found.options[-1].end if found.options else found.header + 1
    if not lines[at - 1].endswith(("\n", "\r")):
        lines[at - 1] += newline
    lines.insert(at, f"{key} = {value}{newline}")
    return "".join(lines)


def _scan(lines: list[str]) -> list[_Section]:
    """Sections and option spans of a file ``parse`` accepted, by configparser's rules."""
    sections: list[_Section] = []
    option: _Option | None = None
    indent_level = 0
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(_COMMENT_PREFIXES):
            continue  # configparser neither ends a value here nor adds to it visibly
        indent = len(line) - len(line.lstrip())
        if sections and option is not None and indent > indent_level:
            option.end = index + 1
            continue
        indent_level = indent
        header = _HEADER.match(stripped)
        if header is not None:
            sections.append(_Section(header.group("header"), index, []))
            option = None
            continue
        matched = _OPTION.match(stripped)
        if sections and matched is not None:
            option = _Option(matched.group("option").rstrip(), index, index + 1)
            sections[-1].options.append(option)
    return sections
