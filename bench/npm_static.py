"""The static floor's npm tree: the registry's own packuments, linking to the tarballs on disk.

For every package of today's tree (and the large one), the abbreviated packument (what npm and
pnpm ask for) is fetched once per run and saved with the registry's origin
replaced by the static server's, so its tarball URLs lead back to it.  The
tarballs this machine installs, and the large one, are symlinked in from
``bench/out/npm-tarballs`` at the path their registry URL has.  nginx then
serves the bytes a perfect proxy would: the same packuments (which clients
spend real time parsing) and the same tarballs.
"""

from __future__ import annotations

import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from npm_set import NpmSide, packument

PACKUMENT_TYPE = "application/vnd.npm.install-v1+json"


def build(root: Path, side: NpmSide, base: str) -> None:
    """Write ``root/<name>.json`` per package and ``root/<tarball path>`` per tarball.

    ``base`` is the URL ``root`` is served under (no trailing slash).
    """
    names = sorted({p.name for p in (*side.tree, side.large)})
    origin = side.tarball_origin.encode() + b"/"
    with ThreadPoolExecutor(8) as pool:
        bodies = pool.map(lambda name: packument(side.registry, name), names)
        for name, body in zip(names, bodies, strict=True):
            path = root / f"{name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body.replace(origin, base.encode() + b"/"))
    for package in (*side.installed, side.large):
        url_path = urllib.parse.unquote(urllib.parse.urlsplit(package.tarball).path)
        link = root / url_path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(side.tarball_dir / package.filename)
