"""The npm workload set: a fixed project, the tree it resolves to, and its tarballs on disk.

The top-level versions are pinned once, resolving the bare names through the
real registry (``npm install --package-lock-only``), and saved to
``bench/out/npm-pins.json`` (``npm-pins-quick.json``) with the version of the
package whose tarball is the large file; later runs reuse them, so every
run installs the same project.  Their own dependencies stay semver ranges,
as in any real project: each run resolves the pinned project once more
against the registry (lock only, not timed) to learn the whole tree every
target will serve that day.  The tree's tarballs for this platform (and the
large one) are downloaded once into ``bench/out/npm-tarballs/``, checked
against their ``integrity``, for the static floor.
"""

from __future__ import annotations

import base64
import hashlib
import json
import platform
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness import OUT
from npm_env import isolated_env, npm

FULL_NPM = (
    "express", "lodash", "axios", "chalk", "commander", "react", "react-dom",
    "@babel/core", "eslint", "webpack", "vite", "typescript",
)  # fmt: skip
QUICK_NPM = ("axios", "chalk", "commander")
NPM_METADATA_PACKAGE = "asynckit"  # a dependency of axios with few versions: a small packument
NPM_LARGE_PACKAGE = "prisma"  # one tarball of about 14 MB, fetched alone (not installed)
# What npm and pnpm send for a packument: the abbreviated form when the registry has it.
NPM_ACCEPT = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
NPM_HEADERS = {"Accept": NPM_ACCEPT, "Accept-Encoding": "gzip"}
TARBALLS = OUT / "npm-tarballs"
_NODE_ARCH = {"x86_64": "x64", "aarch64": "arm64"}
Lock = dict[str, dict[str, dict[str, object]]]  # package-lock.json, the parts read here


@dataclass(frozen=True, slots=True)
class NpmPackage:
    name: str
    version: str
    tarball: str  # the registry's URL
    integrity: str  # SRI, as the lock file and packument give it
    for_here: bool  # its os/cpu fields allow this machine (else clients skip the tarball)

    @property
    def filename(self) -> str:
        return f"{self.name.replace('/', '+')}-{self.version}.tgz"


@dataclass(frozen=True, slots=True)
class NpmSide:
    """What the npm half of a run works from."""

    label: str
    registry: str  # the discovered registry URL, ending in a slash
    packages: tuple[str, ...]
    pins: dict[str, str]  # top-level name -> exact version
    tree: tuple[NpmPackage, ...]  # every package the pinned project resolves to today
    large: NpmPackage
    tarball_dir: Path

    @property
    def tarball_origin(self) -> str:
        parts = urllib.parse.urlsplit(self.tree[0].tarball)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def installed(self) -> tuple[NpmPackage, ...]:
        return tuple(p for p in self.tree if p.for_here)

    @property
    def total_mb(self) -> float:
        return sum((self.tarball_dir / p.filename).stat().st_size for p in self.installed) / 1e6

    def package_json(self) -> str:
        return project_json(self.pins)


def project_json(dependencies: dict[str, str]) -> str:
    doc = {"name": "pantry-bench-project", "version": "1.0.0", "private": True}
    return json.dumps(doc | {"dependencies": dependencies}, indent=1) + "\n"


def escaped(name: str) -> str:
    """A package name as a URL path segment, the way npm sends it (a scope's slash escaped)."""
    return name.replace("/", "%2f")


def packument(registry: str, name: str) -> bytes:
    """The abbreviated packument of ``name`` straight from the registry, as npm asks for it."""
    url = registry + escaped(name)
    request = urllib.request.Request(url, headers={"Accept": NPM_ACCEPT})  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 - discovered URL
        body: bytes = resp.read()
        return body


def _manifest(registry: str, name: str, spec: str) -> dict[str, dict[str, str]]:
    """One version's document (``spec``: a version or a dist-tag), smaller than the packument."""
    url = f"{registry}{escaped(name)}/{spec}"
    with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - discovered URL
        doc: dict[str, dict[str, str]] = json.load(resp)
        return doc


def prepare(label: str, packages: tuple[str, ...], registry: str, work: Path, log: Path) -> NpmSide:
    """Pins (once), today's tree for them, and every tarball on disk."""
    pins, large_version = _load_or_pin(label, packages, registry, work, log)
    tree = _packages_of(_lock(pins, registry, work / "npm-resolve", log))
    dist = _manifest(registry, NPM_LARGE_PACKAGE, large_version)["dist"]
    large = NpmPackage(NPM_LARGE_PACKAGE, large_version, dist["tarball"], dist["integrity"], True)
    side = NpmSide(label, registry, packages, pins, tree, large, TARBALLS)
    _fetch_tarballs(side)
    return side


def _load_or_pin(
    label: str, packages: tuple[str, ...], registry: str, work: Path, log: Path
) -> tuple[dict[str, str], str]:
    record = OUT / ("npm-pins.json" if label == "full" else f"npm-pins-{label}.json")
    if record.exists():
        saved = json.loads(record.read_text())
        if saved["packages"] == list(packages):
            return dict(saved["pins"]), str(saved["large"])
    latest = dict.fromkeys(packages, "latest")
    top = _lock(latest, registry, work / "npm-pin", log)["packages"]
    pins = {name: str(top[f"node_modules/{name}"]["version"]) for name in packages}
    large = str(_manifest(registry, NPM_LARGE_PACKAGE, "latest")["version"])
    record.write_text(
        json.dumps({"packages": list(packages), "pins": pins, "large": large}, indent=1) + "\n"
    )
    return pins, large


def _lock(dependencies: dict[str, str], registry: str, where: Path, log: Path) -> Lock:
    """The lock file npm writes for a project of ``dependencies``, as packages."""
    project = where / "project"
    project.mkdir(parents=True)
    (project / "package.json").write_text(project_json(dependencies))
    env = isolated_env(where / "home", registry, loopback_only=False)
    cmd = [
        npm(), "install", "--package-lock-only", "--ignore-scripts", "--registry", registry,
        "--cache", str(where / "cache"),
    ]  # fmt: skip
    try:
        with log.open("ab") as out:
            subprocess.run(
                cmd, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT,
                check=True, timeout=600,
            )  # fmt: skip
        lock: Lock = json.loads((project / "package-lock.json").read_text())
    finally:
        shutil.rmtree(where, ignore_errors=True)
    return lock


def _packages_of(lock: Lock) -> tuple[NpmPackage, ...]:
    found: dict[tuple[str, str], NpmPackage] = {}
    for key, entry in lock["packages"].items():
        if not key or entry.get("link") or "resolved" not in entry:
            continue
        name = str(entry.get("name") or key.rsplit("node_modules/", 1)[1])
        version = str(entry["version"])
        found[(name, version)] = NpmPackage(
            name, version, str(entry["resolved"]), str(entry["integrity"]), _for_here(entry)
        )
    return tuple(sorted(found.values(), key=lambda p: (p.name, p.version)))


def _for_here(entry: dict[str, object]) -> bool:
    """Whether npm would install this package here, by its ``os`` and ``cpu`` fields."""
    mine = {"os": sys.platform, "cpu": _NODE_ARCH.get(platform.machine(), platform.machine())}
    for field, value in mine.items():
        allowed = entry.get(field)
        if not isinstance(allowed, list):
            continue
        if f"!{value}" in allowed:
            return False
        wanted = [a for a in allowed if not str(a).startswith("!")]
        if wanted and value not in wanted:
            return False
    return True


def _fetch_tarballs(side: NpmSide) -> None:
    side.tarball_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: _fetch(p, side.tarball_dir), (*side.installed, side.large)))


def _fetch(package: NpmPackage, into: Path) -> None:
    """Download one tarball unless it is there already, checked against its integrity."""
    path = into / package.filename
    if path.exists() and matches_integrity(path.read_bytes(), package.integrity):
        return
    partial = path.with_suffix(".part")
    with urllib.request.urlopen(package.tarball, timeout=120) as resp, partial.open("wb") as f:  # noqa: S310 - a URL the registry named
        shutil.copyfileobj(resp, f, 1 << 20)
    if not matches_integrity(partial.read_bytes(), package.integrity):
        partial.unlink()
        raise RuntimeError(f"{package.filename}: integrity differs from the registry's")
    partial.rename(path)


def matches_integrity(data: bytes, integrity: str) -> bool:
    """Whether ``data`` matches any of the SRI hashes in ``integrity``."""
    for item in integrity.split():
        algorithm, _, expected = item.partition("-")
        if algorithm in {"sha512", "sha384", "sha256", "sha1"}:
            digest = hashlib.new(algorithm, data).digest()
            if base64.b64encode(digest).decode() == expected:
                return True
    return False
