import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import ipaddress
import socket
from collections.abc import Iterator

import pytest

from fixtures.npm_upstream import FixtureNpm
from fixtures.pantry_process import PantryProcess, pypi_config
from fixtures.pypi_upstream import FixturePyPI

_PROXY_AND_CA_VARS = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
)


@pytest.fixture
def fixture_pypi() -> Iterator[FixturePyPI]:
    """A started PyPI-like upstream (index and files servers) on loopback."""
    with FixturePyPI() as upstream:
        yield upstream


@pytest.fixture
def fixture_npm() -> Iterator[FixtureNpm]:
    """A started npm-registry-like upstream on loopback."""
    with FixtureNpm() as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def _clear_proxy_and_ca_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_AND_CA_VARS:
        monkeypatch.delenv(name, raising=False)


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False  # a host name: resolving it here could itself leave the machine
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _check_connect(sock: socket.socket, address: object) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # AF_UNIX and friends never leave the machine
    host = address[0] if isinstance(address, tuple) and address else address
    if not (isinstance(host, str) and _is_loopback_host(host)):
        raise OSError(f"non-loopback connect blocked in tests: {address!r}")


@pytest.fixture(autouse=True)
def _loopback_only(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connect to a non-loopback address, unless the test is marked `live`."""
    if request.node.get_closest_marker("live") is not None:
        return
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: object) -> None:
        _check_connect(self, address)
        original_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        _check_connect(self, address)
        return original_connect_ex(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture
def pantry(fixture_pypi: FixturePyPI, tmp_path: pathlib.Path) -> Iterator[PantryProcess]:
    """A real `pantry serve` process proxying the fixture upstream as /pypi/ (TTL 300 s)."""
    with PantryProcess(tmp_path / "data", pypi_config(fixture_pypi.index_url)) as server:
        yield server


@pytest.fixture
def pantry_ttl0(fixture_pypi: FixturePyPI, tmp_path: pathlib.Path) -> Iterator[PantryProcess]:
    """Like `pantry`, but metadata is revalidated on every request."""
    config = pypi_config(fixture_pypi.index_url, ttl_s=0)
    with PantryProcess(tmp_path / "data", config) as server:
        yield server
