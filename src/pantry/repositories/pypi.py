"""The PyPI proxy recipe: maps ``/NAME/...`` requests to cache-engine fetches.

Routes (the interface contract):
- ``simple/`` and ``simple/<project>/``: PEP 503 HTML or PEP 691 JSON by Accept,
  with non-normalised names redirected like PyPI does;
- ``files/<project>/<filename>``: package files and their PEP 658 ``.metadata``,
  fetched only from the URL an upstream project page named, verified against
  the hash it published;
- ``pypi/<project>/json`` and ``pypi/<project>/<version>/json``: the JSON API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from urllib.parse import quote, unquote

from pantry.cache.engine import Engine
from pantry.cache.values import Fetch, Served, Transformed
from pantry.config import RepositoryConfig
from pantry.errors import MethodNotAllowed, NotFound
from pantry.formats import pypi
from pantry.model import ArtifactKind, CacheKey
from pantry.repositories import BASE_PLACEHOLDER, Reply, RepoRequest, linked_artifact, reply_for
from pantry.storage.index import Link


class PypiProxy:
    """A PyPI-type repository proxying one upstream simple index."""

    type = "pypi"

    def __init__(self, config: RepositoryConfig, upstream: str, engine: Engine) -> None:
        self.name = config.name
        self.upstream = upstream
        self.ttl_s = config.metadata_ttl_s
        self.engine = engine
        # The JSON API lives beside the simple index on PyPI-like servers.
        root = upstream.removesuffix("/").removesuffix("/simple")
        self.json_api = root + "/pypi/" if upstream.rstrip("/").endswith("/simple") else None

    async def handle(self, request: RepoRequest) -> Reply:
        if request.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{request.method} is not served by PyPI repositories")
        tail, accept = request.tail, request.accept
        parts = tail.split("/")
        match parts:
            case ["simple"]:
                return self._redirect("simple/")
            case ["simple", ""]:
                return await self._index(accept)
            case ["simple", project] | ["simple", project, ""]:
                return await self._project(project, accept, has_slash=len(parts) == 3)
            case ["files", project, filename]:
                return await self._file(project, unquote(filename))
            case ["pypi", project, "json"]:
                return await self._json_api(project, None)
            case ["pypi", project, version, "json"]:
                return await self._json_api(project, version)
        raise NotFound(f"no such path in PyPI repository {self.name!r}: /{tail}")

    async def _index(self, accept: str | None) -> Reply:
        chosen = pypi.negotiate(accept)
        if chosen is None:
            return _not_acceptable()
        variant, content_type = chosen

        def transform(body: bytes, upstream_type: str, _url: str) -> Transformed:
            return Transformed(pypi.render_index(body, upstream_type, variant), content_type)

        fetch = self._metadata(f"simple/:{variant.value}", self.upstream, transform)
        return reply_for(await self.engine.get(fetch), content_type, self.engine, ttl_s=self.ttl_s)

    async def _project(self, project: str, accept: str | None, *, has_slash: bool) -> Reply:
        pypi.check_project_name(project)
        normal = pypi.normalize_name(project)
        if normal != project or not has_slash:
            return self._redirect(f"simple/{normal}/")
        chosen = pypi.negotiate(accept)
        if chosen is None:
            return _not_acceptable()
        variant, content_type = chosen
        served = await self._page(normal, variant, revalidate=False)
        return reply_for(served, content_type, self.engine, ttl_s=self.ttl_s)

    async def _page(self, normal: str, variant: pypi.Variant, *, revalidate: bool) -> Served:
        def transform(body: bytes, upstream_type: str, url: str) -> Transformed:
            page = pypi.render_project(body, upstream_type, url, variant, normal)
            stored_type = pypi.JSON_CT if variant is pypi.Variant.JSON else "text/html"
            return Transformed(page.body, stored_type, self._links(normal, page.links))

        fetch = self._metadata(
            f"simple/{normal}/:{variant.value}", f"{self.upstream}{normal}/", transform
        )
        return await self.engine.get(fetch, revalidate=revalidate)

    async def _file(self, project: str, filename: str) -> Reply:
        pypi.check_project_name(project)
        pypi.check_filename(filename)
        normal = pypi.normalize_name(project)
        return await linked_artifact(
            self.engine,
            self.name,
            self._key(f"files/{normal}/{filename}"),
            lambda: self._page(normal, pypi.Variant.JSON, revalidate=True),
            not_listed=f"{filename} is not listed on the upstream page of {normal}",
        )

    async def _json_api(self, project: str, version: str | None) -> Reply:
        if self.json_api is None:
            raise NotFound(f"the upstream of {self.name!r} has no JSON API")
        pypi.check_project_name(project)
        normal = pypi.normalize_name(project)
        path = f"{normal}/json" if version is None else f"{normal}/{quote(version, safe='')}/json"

        def transform(body: bytes, _type: str, url: str) -> Transformed:
            page = pypi.rewrite_json_api(body, url, BASE_PLACEHOLDER, normal)
            return Transformed(page.body, "application/json", self._links(normal, page.links))

        fetch = self._metadata(f"pypi/{path}", self.json_api + path, transform, "application/json")
        reply = reply_for(
            await self.engine.get(fetch), "application/json", self.engine, ttl_s=self.ttl_s
        )
        return replace(reply, substitute_base=True)

    def _metadata(
        self,
        path: str,
        url: str,
        transform: Callable[[bytes, str, str], Transformed],
        accept: str = pypi.UPSTREAM_ACCEPT,
    ) -> Fetch:
        return Fetch(
            self.name,
            self._key(path),
            url,
            ArtifactKind.METADATA,
            headers={"Accept": accept},
            ttl_s=self.ttl_s,
            transform=transform,
        )

    def _links(self, normal: str, links: tuple[pypi.Link, ...]) -> tuple[Link, ...]:
        found: list[Link] = []
        for link in links:
            key = self._key(f"files/{normal}/{link.filename}")
            found.append(Link(key, link.url, pypi.pick_digest(link.hashes)))
            if link.core_metadata is not None:
                digest = pypi.pick_digest(link.core_metadata)
                found.append(Link(CacheKey(key + ".metadata"), link.url + ".metadata", digest))
        return tuple(found)

    def _key(self, path: str) -> CacheKey:
        return CacheKey(f"{self.name}:{path}")

    def _redirect(self, path: str) -> Reply:
        return Reply(None, status=301, location=f"/{self.name}/{path}")


def _not_acceptable() -> Reply:
    return Reply(
        None,
        status=406,
        content_type="text/plain",
        body=b"pantry: none of the Accept types is served; use PEP 691 JSON or HTML\n",
    )
