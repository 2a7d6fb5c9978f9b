"""Pure engine rules: freshness, circuit breaker, request-line guards, allow-list."""

from __future__ import annotations

import ipaddress
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pantry.cache.freshness import Freshness, judge
from pantry.errors import BadRequest
from pantry.model import ArtifactKind, BlobId, CacheKey, Entry
from pantry.upstream.breaker import Breaker
from pantry.web.bodies import accepts_gzip
from pantry.web.middleware import check_request_line, is_allowed


def _entry(kind: ArtifactKind, fetched_at: float) -> Entry:
    return Entry(CacheKey("r:k"), kind, BlobId("0" * 64), 1, "text/plain", fetched_at)


@pytest.mark.parametrize(
    ("entry", "ttl", "now", "expected"),
    [
        (None, 300, 1000, Freshness.MISSING),
        (_entry(ArtifactKind.ARTIFACT, 0), 0, 10**9, Freshness.FRESH),
        (_entry(ArtifactKind.METADATA, 1000), 300, 1299, Freshness.FRESH),
        (_entry(ArtifactKind.METADATA, 1000), 300, 1300, Freshness.STALE),
        (_entry(ArtifactKind.METADATA, 1000), 0, 1000, Freshness.STALE),
        (_entry(ArtifactKind.METADATA, 1000), 300, 900, Freshness.STALE),  # clock went back
    ],
)
def test_judge__table(entry: Entry | None, ttl: float, now: float, expected: Freshness) -> None:
    assert judge(entry, ttl, now) is expected


def test_breaker__hard_failure_opens_at_once_then_half_opens() -> None:
    breaker = Breaker(open_s=30)
    assert breaker.allow("o", 0)
    breaker.failed("o", 0, hard=True)
    assert not breaker.allow("o", 1)
    assert breaker.is_open("o", 29)
    assert breaker.down_origins(29) == ["o"]
    assert breaker.allow("o", 31)  # the single trial
    assert not breaker.allow("o", 31)  # others wait for it
    breaker.succeeded("o")
    assert breaker.allow("o", 32)
    assert breaker.down_origins(32) == []


def test_breaker__soft_failures_need_a_streak() -> None:
    breaker = Breaker(soft_failures=3, open_s=30)
    breaker.failed("o", 0, hard=False)
    breaker.failed("o", 0, hard=False)
    assert breaker.allow("o", 0)
    breaker.failed("o", 0, hard=False)
    assert not breaker.allow("o", 0)


def test_breaker__failed_trial_reopens() -> None:
    breaker = Breaker(open_s=10)
    breaker.failed("o", 0, hard=False)
    breaker.failed("o", 0, hard=True)
    assert breaker.allow("o", 11)
    breaker.failed("o", 11, hard=False)  # one soft failure is enough while open
    assert not breaker.allow("o", 12)
    assert breaker.allow("o", 22)


def test_breaker__origins_are_independent() -> None:
    breaker = Breaker()
    breaker.failed("a", 0, hard=True)
    assert breaker.allow("b", 0)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/pypi/simple/"),
        ("HEAD", "/pypi/files/alpha/alpha-1.0.tar.gz"),
        ("GET", "/npm/@scope%2fname"),
        ("GET", "/pypi/simple/a.b/?x=1"),
    ],
)
def test_check_request_line__accepts(method: str, path: str) -> None:
    check_request_line(method, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("CONNECT", "127.0.0.1:443"),
        ("GET", "http://127.0.0.1:9/"),
        ("GET", "*"),
        ("GET", "/pypi/../x"),
        ("GET", "/pypi/%2e%2e/x"),
        ("GET", "/pypi/%2E%2E%2fx"),
        ("GET", "/pypi/files/a/..%2f..%2fx"),
        ("GET", "/pypi/%252e%252e/x"),
        ("GET", "/pypi/a%5cb"),
        ("GET", "/pypi/a\\b"),
        ("GET", "/pypi/a%00b"),
        ("GET", "/pypi/./x"),
        ("GET", "/" + "a" * 5000),
        ("GET", "/pypi/%ff%fe"),
    ],
)
def test_check_request_line__rejects(method: str, path: str) -> None:
    with pytest.raises((BadRequest, UnicodeDecodeError)):
        check_request_line(method, path)


@pytest.mark.parametrize(
    ("remote", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.1.2.3", False),
        (None, False),
        ("not-an-ip", False),
    ],
)
def test_is_allowed__loopback_default(remote: str | None, allowed: bool) -> None:
    networks = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
    assert is_allowed(remote, networks) is allowed


_PATH_ALPHABET = st.sampled_from(
    ["/", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "%00", "%25", "\\", "a", "-", "@", "%"]
)


@settings(max_examples=500, database=None, deadline=None)
@given(st.lists(_PATH_ALPHABET, max_size=12).map("".join))
def test_check_request_line__never_lets_traversal_through(tail: str) -> None:
    path = "/pypi/" + tail
    try:
        check_request_line("GET", path)
    except (BadRequest, UnicodeDecodeError):
        return
    decoded = unquote(unquote(path))  # whatever a later layer might decode once more
    assert ".." not in decoded.split("/")
    assert "\\" not in decoded
    assert "\x00" not in decoded


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("br, deflate", False),
    ],
)
def test_accepts_gzip__table(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected
