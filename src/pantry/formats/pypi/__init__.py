"""PyPI "simple" repository pages: negotiate, parse and render them with file links rewritten.

Owns the simple API as pure functions from upstream bytes to the bytes pantry serves:
PEP 503 (HTML pages, name normalisation), PEP 691 (JSON pages, content negotiation),
PEP 658/714 (core metadata files), PEP 700 (versions, size, upload-time), PEP 708 (tracks,
alternate-locations) and PEP 792 (project status), plus the legacy JSON API. Every file URL
is rewritten relative to pantry's layout so downloads go through pantry; the upstream URLs
come back as `Link` values for the proxy layer to remember.
"""

from pantry.formats.pypi.common import Link, Rendered, pick_digest
from pantry.formats.pypi.index import render_index
from pantry.formats.pypi.json_api import rewrite_json_api
from pantry.formats.pypi.names import (
    HTML_CT,
    JSON_CT,
    UPSTREAM_ACCEPT,
    FormatError,
    Variant,
    check_filename,
    check_project_name,
    negotiate,
    normalize_name,
)
from pantry.formats.pypi.pages import render_project

__all__ = [
    "HTML_CT",
    "JSON_CT",
    "UPSTREAM_ACCEPT",
    "FormatError",
    "Link",
    "Rendered",
    "Variant",
    "check_filename",
    "check_project_name",
    "negotiate",
    "normalize_name",
    "pick_digest",
    "render_index",
    "render_project",
    "rewrite_json_api",
]
