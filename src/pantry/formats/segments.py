"""The one rule every format applies to a file name taken from a URL or metadata."""

from __future__ import annotations


def is_safe_segment(name: str) -> bool:
    """Whether ``name`` can stand as one path segment on disk and in URLs.

    1 to 255 printable characters, no ``/`` or ``\\``, not starting with ``.``
    (which also rules out ``.`` and ``..``).
    """
    return (
        0 < len(name) <= 255
        and name[0] != "."
        and "/" not in name
        and "\\" not in name
        and name.isprintable()  # rules out NUL and other control characters
    )
