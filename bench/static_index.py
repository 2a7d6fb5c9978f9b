"""The static floor's tree: the upstream's own project pages, linking to the set's wheels on disk.

For each project of the workload set, the upstream's PEP 691 JSON page is
fetched once per run and saved with every file URL made root-relative
(``/files/<name>``).  The set's wheels are symlinked in from bench/out/wheels,
and where the page offers core metadata (PEP 658/714) it is extracted from
the wheel and checked against the page's hash.  So nginx serves the bytes a
perfect proxy would: the same pages (which pip and uv spend real time
parsing) and the same files; only files no pin selects are absent, and no
client asks for them.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from workset import Wheel, WorkSet

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
METADATA_KEYS = ("core-metadata", "dist-info-metadata")


def build(root: Path, simple_url: str, wset: WorkSet) -> None:
    """Write ``root/simple/<project>/index.json`` and ``root/files/`` for the set."""
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    ours = {w.filename: w for w in wset.wheels}
    for project in wset.projects():
        request = urllib.request.Request(  # noqa: S310 - the discovered index URL
            f"{simple_url}/{project}/", headers={"Accept": JSON_TYPE}
        )
        with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310
            page = json.load(resp)
        for entry in page.get("files", []):
            name = entry["filename"]
            entry["url"] = "/files/" + urllib.parse.quote(name)
            if name in ours:
                _link_wheel(entry, ours[name], wset.wheel_dir, files)
        target = root / "simple" / project
        target.mkdir(parents=True, exist_ok=True)
        (target / "index.json").write_text(json.dumps(page))


def _link_wheel(entry: dict[str, object], wheel: Wheel, wheel_dir: Path, files: Path) -> None:
    """The wheel itself (a symlink) and, if the page offers it, its core metadata file."""
    source = wheel_dir / wheel.filename
    link = files / wheel.filename
    if not link.exists():
        link.symlink_to(source)
    offered = next((entry[k] for k in METADATA_KEYS if entry.get(k)), None)
    if not offered:
        return
    with zipfile.ZipFile(source) as archive:
        member = next(
            n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        )
        data = archive.read(member)
    expected = offered.get("sha256") if isinstance(offered, dict) else None
    if expected and hashlib.sha256(data).hexdigest() != expected:
        for key in METADATA_KEYS:  # not the bytes the page promised: do not offer them
            if key in entry:
                entry[key] = False
        return
    (files / f"{wheel.filename}.metadata").write_bytes(data)
