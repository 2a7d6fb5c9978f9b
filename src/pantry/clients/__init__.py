"""``pantry setup <client>``: point package clients at pantry, and find their upstreams.

Each client is one module providing a ``ClientSetup`` per config file it reads (see
``base.py``; yarn has two) plus one line in ``_REGISTRY`` below; ``actions.py`` does the
showing, writing, backing up and undoing for all of them, and ``discover.py`` finds the
registry a client used before pantry.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TextIO, assert_never

from pantry.clients import actions
from pantry.clients.base import ClientConfigError, ClientSetup, Target
from pantry.clients.npm import NpmrcSetup
from pantry.clients.pdm import PdmSetup
from pantry.clients.pip import PipSetup
from pantry.clients.poetry import PoetrySetup
from pantry.clients.uv import UvSetup
from pantry.clients.yarn import YarnClassicSetup, YarnModernSetup

__all__ = ["CLIENTS", "TOKEN_VAR", "Action", "setup"]

Action = Literal["print", "write", "undo"]

TOKEN_VAR = "PANTRY_TOKEN"  # noqa: S105 - the name of a variable, not a secret
"""The environment variable ``pantry setup`` reads the token from when not given one."""

_REGISTRY: dict[str, tuple[ClientSetup, ...]] = {
    "pip": (PipSetup(),),
    "uv": (UvSetup(),),
    "pdm": (PdmSetup(),),
    "poetry": (PoetrySetup(),),
    "npm": (NpmrcSetup("npm"),),
    "pnpm": (NpmrcSetup("pnpm"),),
    "yarn": (YarnClassicSetup(), YarnModernSetup()),
}

CLIENTS: tuple[str, ...] = tuple(_REGISTRY)


def setup(
    client: str,
    *,
    base_url: str,
    repo: str | None = None,
    action: Action,
    home: Path,
    env: Mapping[str, str],
    out: TextIO,
    token: str | None = None,
) -> int:
    """Show, write or undo ``client``'s configuration for pantry at ``base_url``/``repo``.

    ``repo`` defaults to the client's ecosystem: ``pypi`` for Python clients, ``npm`` for
    npm, pnpm and yarn.  ``home`` and ``env`` stand for the user's home and environment
    (passed in, never read here, so tests and other users' setups stay apart).
    ``token`` is the client token for a pantry with ``[server] tokens``; without it,
    ``PANTRY_TOKEN`` in ``env`` (so it need not be typed on a command line).  It is
    written into the files but never printed; undo needs none.  Returns the exit status:
    0 on success, 2 with a one-line ``error:`` on ``out`` otherwise.
    """
    chosen = _REGISTRY.get(client)
    if chosen is None:
        print(f"error: unknown client {client!r}; known: {', '.join(CLIENTS)}", file=out)
        return actions.FAILED
    name = chosen[0].ecosystem.default_repo if repo is None else repo
    if token is None:
        token = env.get(TOKEN_VAR) or None
    if action == "undo":
        token = None  # undo restores files; the token plays no part
    try:
        target = Target.parse(base_url, name, token)
    except ClientConfigError as exc:
        print(f"error: {exc}", file=out)
        return actions.FAILED
    match action:
        case "print":
            return actions.show(chosen, target, home=home, env=env, out=out)
        case "write":
            return actions.write(chosen, target, home=home, env=env, out=out)
        case "undo":
            return actions.undo(chosen, target, home=home, env=env, out=out)
        case _:
            assert_never(action)
