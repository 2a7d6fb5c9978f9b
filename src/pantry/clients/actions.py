"""The three things ``pantry setup <client>`` does: show, write (with a backup) and undo.

Writing decides first and acts after: read the file, let the client compute the new
text (which may refuse), and only then touch the disk.  Before the first change pantry
keeps the original beside the file as ``<file>.pantry-backup``, or, when there was no
file, an empty ``<file>.pantry-created`` marker.  Neither is ever overwritten, so
``--undo`` always returns to what the user had before pantry's first ``--write``.

A client may read more than one file (yarn 1 and yarn 2+ have one each); it then comes
as several parts, one ``ClientSetup`` per file, shown, written and undone together.
Clients that share a file (npm and pnpm) share its backup the same way: the second
write finds the backup in place and keeps it.

With a token (``Target.token``) the written file holds a secret: pantry writes it with
mode 0600 and says where the token went, but never prints the token itself.  What is
shown is made from ``Target.shown()``, in which the token reads ``<TOKEN>``.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, assert_never
from urllib.parse import quote

from pantry.clients.atomic import file_mode, replace_file
from pantry.clients.base import MASKED, PLACEHOLDER, ClientConfigError, ClientSetup, Target

BACKUP_SUFFIX = ".pantry-backup"
CREATED_SUFFIX = ".pantry-created"

SECRET_FILE_MODE = 0o600

OK = 0
FAILED = 2


class Written(enum.Enum):
    """What ``write`` did to the config file."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class Undone(enum.Enum):
    """What ``undo`` did."""

    RESTORED = "restored"
    REMOVED = "removed"
    NOTHING = "nothing"


@dataclass(frozen=True, slots=True)
class _Current:
    raw: bytes | None  # None: no file
    text: str | None


def backup_of(path: Path) -> Path:
    """Where the original of ``path`` is kept."""
    return path.with_name(path.name + BACKUP_SUFFIX)


def created_marker_of(path: Path) -> Path:
    """The marker saying pantry created ``path``, so undo removes it."""
    return path.with_name(path.name + CREATED_SUFFIX)


def show(
    parts: Sequence[ClientSetup],
    target: Target,
    *,
    home: Path,
    env: Mapping[str, str],
    out: TextIO,
) -> int:
    """Print what ``--write`` would set, where, and the one-off equivalents.

    A token is shown as ``<TOKEN>``; notes say what it stands for and that a file
    holding it is written for its owner only.
    """
    name = parts[0].name
    print(f"{name}: use pantry at {parts[0].ecosystem.url(target)}", file=out)
    shown: list[str] = []  # every line and command printed, to look for the placeholder
    one_off: list[str] = []
    notes: list[str] = []
    has_file = secret_file = False
    for part in parts:
        advice = part.advise(target.shown(), env=env)
        path = part.config_file(home=home, env=env)
        if path is None:
            print(f"  {advice.per_project}; add to each project's pyproject.toml:", file=out)
        else:
            has_file = True
            secret_file = secret_file or part.token_place(target) is not None
            print(f"  config file: {path}", file=out)
            print("  with --write, pantry sets these lines in it:", file=out)
        for line in advice.lines:
            print(f"    {line}", file=out)
        shown.extend([*advice.lines, *advice.one_off])
        one_off.extend(advice.one_off)
        notes.extend(advice.notes)
    print("  or, without a config file:" if has_file else "  or run in each project:", file=out)
    for line in one_off:
        print(f"    {line}", file=out)
    if has_file:
        print(f"  apply: pantry setup {name} --write    undo: pantry setup {name} --undo", file=out)
    if target.token is not None:
        in_url = any(f":{PLACEHOLDER}@" in line for line in shown)
        notes.append(_placeholder_note(target, has_file=has_file, in_url=in_url))
        if secret_file:
            notes.append(
                "note: with the token in it the config file holds a secret, so --write "
                f"gives it mode {SECRET_FILE_MODE:04o} (owner only)"
            )
    _print_notes(notes, out)
    return OK


def _placeholder_note(target: Target, *, has_file: bool, in_url: bool) -> str:
    again = "; --write takes it again from --token or PANTRY_TOKEN" if has_file else ""
    note = f"note: {PLACEHOLDER} stands for the token ({MASKED}), which pantry never prints{again}"
    if in_url and target.token is not None and quote(target.token, safe="") != target.token:
        note += "; inside a URL, write it percent-encoded (/ as %2F, + as %2B, = as %3D)"
    return note


@dataclass(frozen=True, slots=True)
class _Plan:
    path: Path
    current: _Current
    new_text: str
    token_place: str | None  # where the new text holds the token; None: it holds none


def write(
    parts: Sequence[ClientSetup],
    target: Target,
    *,
    home: Path,
    env: Mapping[str, str],
    out: TextIO,
) -> int:
    """Point the client's user config at ``target``; 2 and untouched files on any problem.

    Every file is read and edited in memory first, so a refusal for one leaves all of
    them alone; only then are they written, one after the other.  A file that gets the
    token is written with mode 0600.
    """
    name = parts[0].name
    plans: list[_Plan] = []
    for part in parts:
        path = part.config_file(home=home, env=env)
        if path is None:
            return _per_project(part, target, env=env, out=out, action="--write")
        place = part.token_place(target) if target.token is not None else None
        try:
            current = _read(path)
            plans.append(_Plan(path, current, part.edit(current.text, target), place))
        except ClientConfigError as exc:
            print(f"error: {name}: {path}: {exc}", file=out)
            return FAILED
    url = parts[0].ecosystem.url(target)
    for plan in plans:
        mode = SECRET_FILE_MODE if plan.token_place is not None else None
        try:
            written = _apply(plan.path, plan.current, plan.new_text, mode=mode)
        except ClientConfigError as exc:
            print(f"error: {name}: {plan.path}: {exc}", file=out)
            return FAILED
        _print_written(name, plan.path, url, written, out)
        if plan.token_place is not None:
            _print_token(name, plan.path, plan.token_place, written, out)
    shown = target.shown()
    _print_notes([note for part in parts for note in part.advise(shown, env=env).notes], out)
    return OK


def undo(
    parts: Sequence[ClientSetup],
    target: Target,
    *,
    home: Path,
    env: Mapping[str, str],
    out: TextIO,
) -> int:
    """Put the client's config files back as they were before pantry's first write."""
    name = parts[0].name
    status = OK
    for part in parts:
        path = part.config_file(home=home, env=env)
        if path is None:
            return _per_project(part, target, env=env, out=out, action="--undo")
        try:
            undone = _undo(path)
        except OSError as exc:
            print(f"error: {name}: cannot restore {path}: {exc}", file=out)
            status = FAILED
            continue
        match undone:
            case Undone.RESTORED:
                print(f"{name}: restored {path} from {backup_of(path)}", file=out)
            case Undone.REMOVED:
                print(f"{name}: removed {path}, which pantry had created", file=out)
            case Undone.NOTHING:
                print(f"{name}: nothing to undo for {path}", file=out)
            case _:
                assert_never(undone)
    return status


def _print_written(name: str, path: Path, url: str, written: Written, out: TextIO) -> None:
    match written:
        case Written.UNCHANGED:
            print(f"{name}: {path} already uses {url}; nothing changed", file=out)
        case Written.CREATED:
            print(f"{name}: created {path} (undo: pantry setup {name} --undo)", file=out)
        case Written.UPDATED:
            kept = backup_of(path)
            where = f"; original kept in {kept}" if kept.exists() else ""
            print(f"{name}: updated {path}{where} (undo: pantry setup {name} --undo)", file=out)
        case _:
            assert_never(written)


def _print_token(name: str, path: Path, place: str, written: Written, out: TextIO) -> None:
    """Where the token went (never the token), and that the file is now a secret."""
    if written is not Written.UNCHANGED:
        print(
            f"{name}: the token ({MASKED}) is in {path}, {place}; the file holds a secret "
            f"now, so pantry gave it mode {SECRET_FILE_MODE:04o} (owner only)",
            file=out,
        )
        return
    mode = file_mode(path)
    loose = (
        f"; others may read the file (mode {mode:04o}): chmod 600 {path}" if mode & 0o077 else ""
    )
    print(f"{name}: the token ({MASKED}) is already in {path}, {place}{loose}", file=out)


def _print_notes(notes: Iterable[str], out: TextIO) -> None:
    for note in dict.fromkeys(notes):  # in order, each once
        print(f"  {note}", file=out)


def _per_project(
    client: ClientSetup, target: Target, *, env: Mapping[str, str], out: TextIO, action: str
) -> int:
    advice = client.advise(target.shown(), env=env)
    hint = f"; run in each project: {'; '.join(advice.one_off)}" if action == "--write" else ""
    print(
        f"error: {client.name}: nothing to {action.lstrip('-')}: {advice.per_project}{hint}",
        file=out,
    )
    return FAILED


def _read(path: Path) -> _Current:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _Current(None, None)
    except OSError as exc:
        raise ClientConfigError(f"cannot read it ({exc.strerror or exc})") from exc
    try:
        return _Current(raw, raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ClientConfigError("it is not UTF-8 text; fix it first") from exc


def _apply(path: Path, current: _Current, new_text: str, *, mode: int | None) -> Written:
    """Keep the original (once), then replace the file (``mode`` None: keep its mode)."""
    if new_text == current.text:
        return Written.UNCHANGED
    backup, marker = backup_of(path), created_marker_of(path)
    try:
        if not backup.exists() and not marker.exists():
            if current.raw is None:
                replace_file(marker, b"")
            else:
                replace_file(backup, current.raw, mode=file_mode(path))
        replace_file(path, new_text.encode("utf-8"), mode=mode)
    except OSError as exc:
        raise ClientConfigError(f"cannot write it ({exc.strerror or exc})") from exc
    return Written.CREATED if current.raw is None else Written.UPDATED


def _undo(path: Path) -> Undone:
    backup, marker = backup_of(path), created_marker_of(path)
    if backup.exists():
        replace_file(path, backup.read_bytes(), mode=file_mode(backup))
        backup.unlink()
        marker.unlink(missing_ok=True)
        return Undone.RESTORED
    if marker.exists():
        # The file may be a symlink pantry followed when writing; remove what it wrote.
        Path(os.path.realpath(path)).unlink(missing_ok=True)
        marker.unlink()
        return Undone.REMOVED
    return Undone.NOTHING
