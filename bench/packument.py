"""Measure what a large packument costs pantry: rewriting on a miss, serving on a hit.

Builds a synthetic packument (default 3000 versions, ~20 MB, the size of the
largest real ones), then times, each as the median of several runs:
- ``rewrite_packument`` (parse, point every tarball at pantry, serialise), the
  work done once per upstream fetch, off the event loop;
- the per-request base-URL substitution done on every hit;
- ``orjson.loads`` alone, as the floor any JSON-parsing proxy pays.
Also reports the peak Python memory of one rewrite.  Usage:
``.venv/bin/python bench/packument.py [--versions N]``
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Callable

import orjson

from pantry.formats import npm
from pantry.repositories import BASE_PLACEHOLDER


def synthetic_packument(versions: int) -> bytes:
    """A packument shaped like a popular package's: many versions, long READMEs."""
    name = "big-package"
    doc: dict[str, object] = {
        "_id": name,
        "name": name,
        "dist-tags": {"latest": f"1.0.{versions - 1}"},
        "time": {f"1.0.{i}": "2024-01-01T00:00:00.000Z" for i in range(versions)},
        "versions": {
            f"1.0.{i}": {
                "name": name,
                "version": f"1.0.{i}",
                "description": "x" * 200,
                "dependencies": {f"dep-{j}": "^1.0.0" for j in range(10)},
                "readme": "lorem ipsum " * 400,
                "dist": {
                    "tarball": f"https://registry.example.test/{name}/-/{name}-1.0.{i}.tgz",
                    "shasum": "0" * 40,
                    "integrity": "sha512-" + "A" * 86 + "==",
                },
            }
            for i in range(versions)
        },
    }
    return orjson.dumps(doc)


def median_s(work: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=3000)
    args = parser.parse_args()
    body = synthetic_packument(args.versions)
    rewritten = npm.rewrite_packument(body, "big-package", BASE_PLACEHOLDER).body
    placeholder, base = BASE_PLACEHOLDER.encode(), b"http://127.0.0.1:7878/npm"

    parse = median_s(lambda: orjson.loads(body))
    rewrite = median_s(lambda: npm.rewrite_packument(body, "big-package", BASE_PLACEHOLDER))
    serve = median_s(lambda: rewritten.replace(placeholder, base))
    tracemalloc.start()
    npm.rewrite_packument(body, "big-package", BASE_PLACEHOLDER)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    mb = len(body) / 1e6
    print(f"packument: {args.versions} versions, {mb:.1f} MB")
    print(f"orjson.loads (floor):        {parse * 1000:7.1f} ms")
    ratio = rewrite / parse
    print(f"rewrite on a miss:           {rewrite * 1000:7.1f} ms  ({ratio:.1f}x the floor)")
    print(f"base substitution on a hit:  {serve * 1000:7.1f} ms")
    print(f"peak memory of one rewrite:  {peak / 1e6:7.1f} MB ({peak / len(body):.1f}x the body)")


if __name__ == "__main__":
    main()
