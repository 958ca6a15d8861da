"""Fetching fact-check feeds and articles from the open web, without becoming a proxy into ours.

Import URLs come from editors and from feeds we do not control, so every hop is checked: only
http(s), at most five redirects, and a host must resolve to public addresses only (no
loopback, private, link-local such as the cloud metadata service 169.254.169.254, CGNAT,
multicast or reserved ranges, nor IPv6 wrappers of them). The connection then goes to the very
addresses we checked, through a pinned resolver, so a DNS answer that changes between the check
and the connect (DNS rebinding) cannot smuggle an internal address in. Bodies are streamed and
cut at a size cap, and the whole fetch, redirects included, has one deadline.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

__all__ = [
    "DEFAULT_MAX_BYTES",
    "USER_AGENT",
    "FetchError",
    "FetchRefusedError",
    "FetchedDocument",
    "Fetcher",
]

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
USER_AGENT = "tipline-factcheck-importer/0.1 (the tip line, a newsroom's fact-check bot)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchError(Exception):
    """A document could not be fetched; the message says why, for the import report."""


class FetchRefusedError(FetchError):
    """We refused to fetch a URL (scheme, address or redirect), before connecting to it."""


@dataclass(frozen=True, slots=True)
class FetchedDocument:
    url: str
    status: int
    content_type: str | None
    body: bytes
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        """The server said our copy (ETag / Last-Modified) is still current."""
        return self.status == 304


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.teredo is not None:
        return address.teredo[1]
    return None


def is_public_address(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses (and their IPv6 wrappers)."""
    inner = _embedded_ipv4(address)
    if inner is not None:
        return is_public_address(inner)
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address in ipaddress.IPv4Network("100.64.0.0/10")
    )


class _PinnedResolver(AbstractResolver):
    """Hands aiohttp exactly the addresses :class:`Fetcher` vetted for a host, nothing else."""

    def __init__(self) -> None:
        self.pins: dict[str, list[IPAddress]] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self.pins.get(host.lower())
        if not addresses:
            raise OSError(f"{host} was not vetted before connecting")
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        self.pins.clear()


class Fetcher:
    """Fetches one URL at a time safely; share one per import or feed sync, then close it.

    ``allow_private`` lifts the address checks (a newsroom's intranet feed, tests);
    ``allowed_addresses`` lifts them for listed addresses or networks only.
    """

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        connect_timeout: float = 5.0,
        total_timeout: float = 20.0,
        max_redirects: int = 5,
        allow_private: bool = False,
        allowed_addresses: Iterable[str] = (),
        user_agent: str = USER_AGENT,
    ) -> None:
        self.max_bytes = max_bytes
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.max_redirects = max_redirects
        self.allow_private = allow_private
        self.allowed: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(item, strict=False) for item in allowed_addresses
        )
        self.user_agent = user_agent
        self._resolver = _PinnedResolver()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=self._resolver, use_dns_cache=False, limit_per_host=4
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    connect=self.connect_timeout, sock_connect=self.connect_timeout
                ),
                headers={"User-Agent": self.user_agent},
                auto_decompress=True,
                trust_env=False,  # a proxy would connect on our behalf, unchecked
            )
        return self._session

    def _permitted(self, address: IPAddress) -> bool:
        if self.allow_private or is_public_address(address):
            return True
        candidates = [address]
        inner = _embedded_ipv4(address)
        if inner is not None:
            candidates.append(inner)
        return any(
            candidate.version == network.version and candidate in network
            for candidate in candidates
            for network in self.allowed
        )

    async def _vet(self, url: str) -> None:
        """Refuse the URL unless it is http(s) to a host whose every address is permitted."""
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise FetchRefusedError(f"refused {url!r}: not a valid URL ({exc})") from exc
        if parts.scheme not in ("http", "https"):
            raise FetchRefusedError(f"refused {url!r}: only http and https URLs are fetched")
        host = (parts.hostname or "").lower()
        if not host:
            raise FetchRefusedError(f"refused {url!r}: no host")
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except (OSError, ValueError) as exc:
                raise FetchError(f"cannot resolve {host}: {exc}") from exc
            addresses = list(
                dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos)
            )
        refused = [address for address in addresses if not self._permitted(address)]
        if refused or not addresses:
            raise FetchRefusedError(
                f"refused {url!r}: {host} resolves to a non-public address "
                f"({', '.join(map(str, refused))})"
            )
        self._resolver.pins[host] = addresses

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchedDocument:
        """GET ``url`` (conditionally, given a previous ETag/Last-Modified), following redirects.

        Raises :class:`FetchRefusedError` for a forbidden URL or redirect target and
        :class:`FetchError` for timeouts, oversize bodies, HTTP errors and network failures.
        A 304 comes back as a document with ``not_modified`` set and an empty body.
        """
        try:
            async with asyncio.timeout(self.total_timeout):
                return await self._follow(url, etag=etag, last_modified=last_modified)
        except TimeoutError as exc:
            raise FetchError(f"{url}: timed out after {self.total_timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            raise FetchError(f"{url}: {exc.__class__.__name__}: {exc}") from exc

    async def _follow(
        self, url: str, *, etag: str | None, last_modified: str | None
    ) -> FetchedDocument:
        headers: dict[str, str] = {"Accept": "*/*"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        for _hop in range(self.max_redirects + 1):
            await self._vet(current)
            async with self._client().get(
                current, headers=headers, allow_redirects=False
            ) as response:
                if response.status in _REDIRECTS:
                    location = response.headers.get("Location")
                    if not location:
                        raise FetchError(f"{current}: redirect without a Location")
                    current = urljoin(current, location)
                    continue
                if response.status >= 400:
                    raise FetchError(f"{current}: HTTP {response.status} {response.reason}")
                body = b"" if response.status == 304 else await self._read(current, response)
                return FetchedDocument(
                    url=current,
                    status=response.status,
                    content_type=response.headers.get("Content-Type"),
                    body=body,
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                )
        raise FetchError(f"{url}: more than {self.max_redirects} redirects")

    async def _read(self, url: str, response: aiohttp.ClientResponse) -> bytes:
        too_big = f"{url}: response larger than {self.max_bytes:,} bytes, stopped reading"
        if (response.content_length or 0) > self.max_bytes:
            raise FetchError(too_big)
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > self.max_bytes:
                raise FetchError(too_big)
        return bytes(body)
