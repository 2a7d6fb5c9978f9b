"""Client tokens: header parsing and hash checks."""

from __future__ import annotations

import base64

import pytest

from pantry.tokens import hash_token, is_authorized, is_valid_hash, new_token, presented_token


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer abc", "abc"),
        ("bearer   abc  ", "abc"),
        ("Bearer ", None),
        (_basic("ci", "s3cret"), "s3cret"),
        (_basic("", "s3cret"), "s3cret"),
        (_basic("ci", ""), None),
        ("Basic !!!", None),
        ("Basic " + base64.b64encode(b"no-colon").decode(), None),
        ("Basic " + base64.b64encode(b"\xff:\xfe").decode(), None),
        ("Digest abc", None),
    ],
)
def test_presented_token__table(header: str | None, token: str | None) -> None:
    assert presented_token(header) == token


def test_is_authorized__only_configured_tokens() -> None:
    token, hashed = new_token()
    other, _ = new_token()
    assert is_valid_hash(hashed)
    assert is_authorized(f"Bearer {token}", [hash_token("x"), hashed])
    assert is_authorized(_basic("anyone", token), [hashed])
    assert not is_authorized(f"Bearer {other}", [hashed])
    assert not is_authorized(None, [hashed])


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (hash_token("t"), True),
        ("sha256:" + "A" * 64, False),
        ("sha256:" + "a" * 63, False),
        ("md5:" + "a" * 64, False),
        ("plain-token", False),
    ],
)
def test_is_valid_hash__table(value: str, valid: bool) -> None:
    assert is_valid_hash(value) is valid
