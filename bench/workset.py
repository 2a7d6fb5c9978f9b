"""The workload set: which packages every target installs, pinned once, and their wheels on disk.

The upstream is discovered, never named: PyPI's simple URL is the one pip
itself defaults to, and the files host is whatever host the resolved files'
URLs (taken from the project pages) point at.  The first run resolves the
package list once through the real index (``pip install --dry-run --report``)
and writes the exact pins to ``bench/out/pins.txt`` (``pins-quick.txt`` for
``--quick``) with the chosen files beside them (``.json``); later runs reuse
them, so every target installs the same files.  The wheels themselves are
downloaded once into ``bench/out/wheels/`` (hash-checked) for the floors.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import OUT, client_env
from packaging.utils import canonicalize_name

FULL_PACKAGES = (
    "requests", "numpy", "pandas", "pydantic", "cryptography", "pyyaml",
    "lxml", "pillow", "flask", "sqlalchemy", "rich", "httpx",
)  # fmt: skip
QUICK_PACKAGES = ("requests", "numpy", "rich")
METADATA_PROJECT = "mdurl"  # a dependency of rich with few releases: a small project page
LARGE_PROJECT = "numpy"  # its wheel is the large file


@dataclass(frozen=True, slots=True)
class Wheel:
    project: str  # canonical name
    version: str
    filename: str
    url: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Upstream:
    simple_url: str  # no trailing slash
    files_origin: str  # scheme://host of the package files

    @property
    def simple_origin(self) -> str:
        parts = urllib.parse.urlsplit(self.simple_url)
        return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True, slots=True)
class WorkSet:
    label: str
    packages: tuple[str, ...]
    pins: Path  # requirements file, name==version per line
    wheels: tuple[Wheel, ...]
    wheel_dir: Path

    def wheel_of(self, project: str) -> Wheel:
        name = canonicalize_name(project)
        return next(w for w in self.wheels if w.project == name)

    def projects(self) -> list[str]:
        return sorted({w.project for w in self.wheels})

    @property
    def total_mb(self) -> float:
        return sum(w.size for w in self.wheels) / 1e6


@dataclass(frozen=True, slots=True)
class PypiSide:
    """What the PyPI half of a run works from: the discovered upstream and the pinned set."""

    upstream: Upstream
    wset: WorkSet


def pypi_simple_url() -> str:
    """PyPI's simple index URL as pip knows it (pip's built-in default)."""
    code = "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.strip().rstrip("/")


def _platform_tag() -> str:
    return (
        f"{sys.implementation.name}{sys.version_info[0]}.{sys.version_info[1]}-{platform.machine()}"
    )


def load_or_resolve(label: str, packages: tuple[str, ...], simple_url: str, log: Path) -> WorkSet:
    """The pinned workload set ``label``: from bench/out if resolved before, else resolved now."""
    stem = "pins" if label == "full" else f"pins-{label}"
    pins, record = OUT / f"{stem}.txt", OUT / f"{stem}.json"
    wheel_dir = OUT / "wheels"
    if record.exists():
        saved = json.loads(record.read_text())
        if saved["packages"] == list(packages) and saved["platform"] == _platform_tag():
            wheels = tuple(Wheel(**w) for w in saved["wheels"])
            return WorkSet(label, packages, pins, wheels, wheel_dir)
    wheels = _resolve(packages, simple_url, log)
    header = f"# {label} workload set, resolved once for {_platform_tag()}: {' '.join(packages)}\n"
    pins.write_text(header + "".join(f"{w.project}=={w.version}\n" for w in wheels))
    record.write_text(
        json.dumps(
            {
                "packages": list(packages),
                "platform": _platform_tag(),
                "wheels": [asdict(w) for w in wheels],
            },
            indent=1,
        )
    )
    return WorkSet(label, packages, pins, wheels, wheel_dir)


def _resolve(packages: tuple[str, ...], simple_url: str, log: Path) -> tuple[Wheel, ...]:
    """Resolve ``packages`` through the real index with pip's resolver; wheels only."""
    report = log.with_suffix(".report.json")
    cmd = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
        "--only-binary=:all:", "--no-cache-dir", "--disable-pip-version-check",
        "--index-url", simple_url + "/", "--report", str(report), *packages,
    ]  # fmt: skip
    with log.open("ab") as out:
        subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=client_env(), check=True, timeout=600
        )
    wheels = []
    for item in json.loads(report.read_text())["install"]:
        info = item["download_info"]
        hashes = info.get("archive_info", {}).get("hashes", {})
        url = info["url"]
        wheels.append(
            Wheel(
                project=canonicalize_name(item["metadata"]["name"]),
                version=item["metadata"]["version"],
                filename=urllib.parse.unquote(url.rsplit("/", 1)[1].split("#")[0]),
                url=url.split("#")[0],
                sha256=hashes["sha256"],
                size=0,
            )
        )
    return tuple(sorted(wheels, key=lambda w: w.project))


def fetch_wheels(wset: WorkSet) -> WorkSet:
    """Download every wheel of the set into ``wheel_dir`` once (hash-checked); sizes filled in."""
    wset.wheel_dir.mkdir(parents=True, exist_ok=True)
    sized = []
    for wheel in wset.wheels:
        path = wset.wheel_dir / wheel.filename
        if not path.exists() or _sha256(path) != wheel.sha256:
            partial = path.with_suffix(".part")
            with urllib.request.urlopen(wheel.url, timeout=60) as resp, partial.open("wb") as f:  # noqa: S310 - a URL the index named
                shutil.copyfileobj(resp, f, 1 << 20)
            if _sha256(partial) != wheel.sha256:
                partial.unlink()
                raise RuntimeError(f"{wheel.filename}: sha256 differs from the index's")
            partial.rename(path)
        sized.append(Wheel(**{**asdict(wheel), "size": path.stat().st_size}))
    return WorkSet(wset.label, wset.packages, wset.pins, tuple(sized), wset.wheel_dir)


def discover_upstream(simple_url: str, wset: WorkSet) -> Upstream:
    """The files host is the one the index's own links point at."""
    parts = urllib.parse.urlsplit(wset.wheels[0].url)
    return Upstream(simple_url, f"{parts.scheme}://{parts.netloc}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
