"""The npm proxy recipe: maps ``/NAME/...`` requests to cache-engine fetches.

Routes (the interface contract):
- ``<package>``, ``@scope/<name>``, ``@scope%2f<name>``: packuments, full or
  abbreviated by Accept, kept as separate cache variants, every
  ``dist.tarball`` pointing at pantry (absolute URLs, built per request from
  ``public_url`` or the request's Host);
- ``<package>/-/<file>.tgz``: tarballs, fetched only from the URL a packument
  named and verified against its ``dist.integrity`` / ``dist.shasum``;
- ``-/package/<package>/dist-tags``; ``-/v1/search`` (cached briefly);
  ``-/ping`` and the audit endpoints, passed through uncached.
"""

from __future__ import annotations

from dataclasses import replace

from pantry.cache.engine import Engine
from pantry.cache.values import Fetch, Served, Transformed
from pantry.config import RepositoryConfig
from pantry.errors import MethodNotAllowed
from pantry.formats import npm
from pantry.model import ArtifactKind, CacheKey
from pantry.repositories import BASE_PLACEHOLDER, Reply, RepoRequest, linked_artifact, reply_for
from pantry.storage.index import Link

SEARCH_TTL_S = 60.0
AUDIT_PATHS = ("-/npm/v1/security/advisories/bulk", "-/npm/v1/security/audits/quick")
# aiohttp has already decoded a gzip'd request body, so Content-Encoding is not passed on.
PASSED_HEADERS = ("Content-Type",)


class NpmProxy:
    """An npm-type repository proxying one upstream registry."""

    type = "npm"

    def __init__(self, config: RepositoryConfig, upstream: str, engine: Engine) -> None:
        self.name = config.name
        self.upstream = upstream
        self.ttl_s = config.metadata_ttl_s
        self.engine = engine

    async def handle(self, request: RepoRequest) -> Reply:
        tail = request.tail
        if request.method == "POST":
            if tail in AUDIT_PATHS:
                return await self._pass(request)
            raise MethodNotAllowed(f"POST is not served at /{self.name}/{tail}")
        if request.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{request.method} is not served by npm repositories")
        if tail == "-/ping":
            return await self._pass(request)
        if tail == "-/v1/search":
            return await self._search(request.query)
        match npm.parse_path(tail):
            case npm.PackumentPath(name):
                variant = npm.negotiate(request.accept)
                served = await self._packument(name, variant, revalidate=False)
                return replace(
                    reply_for(served, npm.content_type(variant), self.engine, ttl_s=self.ttl_s),
                    substitute_base=True,
                )
            case npm.TarballPath(name, filename):
                return await self._tarball(name, filename)
            case npm.DistTagsPath(name):
                return await self._dist_tags(name)

    async def _packument(self, name: str, variant: npm.Variant, *, revalidate: bool) -> Served:
        def transform(body: bytes, _type: str, _url: str) -> Transformed:
            page = npm.rewrite_packument(body, name, BASE_PLACEHOLDER)
            links = tuple(
                Link(self._tarball_key(link.name, link.filename), link.url, link.digest)
                for link in page.links
            )
            return Transformed(page.body, npm.content_type(variant), links)

        fetch = Fetch(
            self.name,
            self._key(f"packument/{name}:{variant.value}"),
            npm.upstream_packument_url(self.upstream, name),
            ArtifactKind.METADATA,
            headers={"Accept": npm.upstream_accept(variant)},
            ttl_s=self.ttl_s,
            transform=transform,
        )
        return await self.engine.get(fetch, revalidate=revalidate)

    async def _tarball(self, name: str, filename: str) -> Reply:
        return await linked_artifact(
            self.engine,
            self.name,
            self._tarball_key(name, filename),
            lambda: self._packument(name, npm.Variant.ABBREVIATED, revalidate=True),
            not_listed=f"{filename} is not a tarball of {name} in the upstream packument",
        )

    async def _dist_tags(self, name: str) -> Reply:
        served = await self._packument(name, npm.Variant.ABBREVIATED, revalidate=False)
        assert served.entry is not None
        body = self.engine.read_metadata(served.entry.blob)
        return Reply(served.outcome, content_type=npm.JSON_CT, body=npm.dist_tags(body))

    async def _search(self, query: str) -> Reply:
        fetch = Fetch(
            self.name,
            self._key(f"search?{query}"),
            f"{self.upstream}-/v1/search?{query}",
            ArtifactKind.METADATA,
            headers={"Accept": npm.JSON_CT},
            ttl_s=SEARCH_TTL_S,
        )
        return reply_for(await self.engine.get(fetch), npm.JSON_CT, self.engine, ttl_s=SEARCH_TTL_S)

    async def _pass(self, request: RepoRequest) -> Reply:
        headers = {k: v for k, v in request.headers.items() if k in PASSED_HEADERS}
        headers.setdefault("Accept", npm.JSON_CT)
        url = f"{self.upstream}{request.tail}" + (f"?{request.query}" if request.query else "")
        fetch = Fetch(self.name, self._key(request.tail), url, ArtifactKind.METADATA, headers)
        body = request.body if request.method == "POST" else None
        passed = await self.engine.relay.pass_through(fetch, method=request.method, body=body)
        return Reply(None, status=passed.status, content_type=passed.content_type, body=passed.body)

    def _tarball_key(self, name: str, filename: str) -> CacheKey:
        return self._key(f"tarball/{name}/{filename}")

    def _key(self, path: str) -> CacheKey:
        return CacheKey(f"{self.name}:{path}")
