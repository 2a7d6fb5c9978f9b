"""The root index (``/simple/``), fast enough for PyPI's ~600,000 projects."""

from __future__ import annotations

import re

from pantry.formats.pypi.common import (
    _check_version,
    _decode_html,
    _dump_json,
    _is_json,
    _json_meta,
    _load_json,
)
from pantry.formats.pypi.names import _NAME, FormatError, Variant, normalize_name
from pantry.formats.pypi.pages import _html_document

# The index lists ~600,000 projects: a regex over anchors is much faster than html.parser, and
# names are checked and normalised in one pass over all of them rather than one call per name.
# An anchor text with markup, entities or spaces inside is no valid project name anyway.
_INDEX_ANCHOR = re.compile(r"<a\b[^>]*>\s*([^<\s]*)\s*</a\s*>", re.IGNORECASE)
_INDEX_VERSION = re.compile(
    r"""<meta\s+name=["']pypi:repository-version["']\s+content=["']([^"']*)["']""", re.IGNORECASE
)
_NAME_LINES = re.compile(rf"^{_NAME}$", re.MULTILINE)


def render_index(body: bytes, content_type: str, variant: Variant) -> bytes:
    """Render the upstream root index in ``variant``; each project links to ``<normalized>/``.

    Projects whose name is not a valid project name are dropped.
    """
    if _is_json(content_type):
        data = _load_json(body)
        projects = data.get("projects") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(projects, list):
            raise FormatError("JSON index has no 'projects' list")
        meta = data.get("meta")
        version = _check_version(meta.get("api-version") if isinstance(meta, dict) else None)
        names = [p.get("name") for p in projects if isinstance(p, dict)]
    else:
        text = _decode_html(body)
        found = _INDEX_VERSION.search(text)
        meta, version = None, _check_version(found[1]) if found else None
        names = _INDEX_ANCHOR.findall(text)
    lines = "\n".join(n for n in names if isinstance(n, str) and "\n" not in n)
    valid: list[str] = _NAME_LINES.findall(lines)
    if variant is Variant.JSON:  # PEP 700 changed nothing here: the upstream version holds
        projects = [{"name": name} for name in valid]
        return _dump_json({"meta": _json_meta(meta, version), "projects": projects})
    # Valid names need no HTML escaping (letters, digits, ``._-``) and contain no newline.
    normalized = normalize_name("\n".join(valid)).split("\n") if valid else []
    pairs = zip(normalized, valid, strict=True)
    anchors = [f'<a href="{href}/">{name}</a><br />' for href, name in pairs]
    return _html_document(version or "1.1", [], "Simple index", anchors)
