"""URL map: ``/-/...`` admin pages, ``/NAME/...`` repositories."""

from __future__ import annotations

from aiohttp import web

from pantry.web.handlers import Handlers


def add_routes(app: web.Application, handlers: Handlers) -> None:
    """Register every route (GET also answers HEAD)."""
    app.router.add_get("/-/health", handlers.health)
    app.router.add_get("/-/metrics", handlers.metrics_page)
    app.router.add_get("/-/", handlers.dashboard)
    repository = "/{repo:[a-z0-9][a-z0-9._-]*}/{tail:.*}"
    app.router.add_get(repository, handlers.repository)
    app.router.add_post(repository, handlers.repository)  # npm audit
