"""The fetcher reads the open web but never our own network: every refusal proven locally."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from newsroom.fetch import Fetcher, FetchError, FetchRefusedError, is_public_address

pytestmark = pytest.mark.asyncio(loop_scope="session")

LOCAL = ["127.0.0.1"]


class LocalSite:
    """A small aiohttp server on 127.0.0.1 that counts the requests it got."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.hits: list[str] = []


async def _huge(request: web.Request) -> web.StreamResponse:
    """50 MB generated on the fly, without a Content-Length, as a hostile server might."""
    response = web.StreamResponse()
    await response.prepare(request)
    chunk = b"x" * (1024 * 1024)
    try:
        for _ in range(50):
            await response.write(chunk)
    except ConnectionError:
        pass  # the fetcher hung up, as it should
    return response


async def _slow(_request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.Response(text="too late")


async def _not_found(_request: web.Request) -> web.Response:
    return web.Response(status=404)


def _redirect(target: str) -> Any:
    async def handler(_request: web.Request) -> web.Response:
        raise web.HTTPFound(target)

    return handler


@pytest_asyncio.fixture(loop_scope="session")
async def site() -> AsyncIterator[LocalSite]:
    app = web.Application()
    runner = web.AppRunner(app)
    holder: dict[str, LocalSite] = {}

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        holder["site"].hits.append(request.path)
        return await handler(request)

    app.middlewares.append(count)

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            text="<html>ok</html>",
            content_type="text/html",
            headers={"ETag": '"v1"', "X-Seen-UA": request.headers.get("User-Agent", "")},
        )

    async def conditional(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304)
        return web.Response(text="feed", headers={"ETag": '"v1"'})

    async def user_agent(request: web.Request) -> web.Response:
        return web.Response(text=request.headers.get("User-Agent", ""))

    async def hop(request: web.Request) -> web.Response:
        remaining = int(request.match_info["n"])
        raise web.HTTPFound("/page" if remaining == 0 else f"/hop/{remaining - 1}")

    app.router.add_get("/page", page)
    app.router.add_get("/feed", conditional)
    app.router.add_get("/ua", user_agent)
    app.router.add_get("/hop/{n}", hop)
    app.router.add_get("/huge", _huge)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/to-metadata", _redirect("http://169.254.169.254/latest/meta-data/"))
    app.router.add_get("/to-private", _redirect("http://10.1.2.3/admin"))
    app.router.add_get("/to-file", _redirect("file:///etc/passwd"))
    app.router.add_get("/not-found", _not_found)
    await runner.setup()
    server = web.TCPSite(runner, "127.0.0.1", 0)
    await server.start()
    port = runner.addresses[0][1]
    holder["site"] = LocalSite(f"http://127.0.0.1:{port}")
    yield holder["site"]
    await runner.cleanup()


async def test_allowed_local_server_is_fetched_with_our_user_agent(site: LocalSite) -> None:
    async with Fetcher(allowed_addresses=LOCAL) as fetcher:
        document = await fetcher.fetch(f"{site.base}/page")
        agent = await fetcher.fetch(f"{site.base}/ua")
    assert (document.status, document.body, document.etag) == (200, b"<html>ok</html>", '"v1"')
    assert document.content_type is not None
    assert document.content_type.startswith("text/html")
    assert b"tipline" in agent.body


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/page",
        "http://localhost:{port}/page",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/page",
        "http://[::ffff:127.0.0.1]:{port}/page",
        "http://100.64.0.1/",
        "http://0.0.0.0:{port}/page",
        "http://224.0.0.1/",
        "http://[fe80::1]/",
    ],
)
async def test_internal_addresses_are_refused_before_connecting(site: LocalSite, url: str) -> None:
    port = site.base.rsplit(":", 1)[1]
    async with Fetcher() as fetcher:
        with pytest.raises(FetchRefusedError, match="non-public address"):
            await fetcher.fetch(url.format(port=port))
    assert site.hits == []


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.org/feed.xml", "gopher://example.org/"]
)
async def test_only_http_and_https_are_fetched(url: str) -> None:
    async with Fetcher(allow_private=True) as fetcher:
        with pytest.raises(FetchRefusedError, match="only http and https"):
            await fetcher.fetch(url)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/to-metadata", "169.254.169.254"),
        ("/to-private", "10.1.2.3"),
        ("/to-file", "only http and https"),
    ],
)
async def test_redirect_from_an_allowed_server_to_an_internal_one_is_refused(
    site: LocalSite, path: str, reason: str
) -> None:
    async with Fetcher(allowed_addresses=LOCAL) as fetcher:
        with pytest.raises(FetchRefusedError, match=reason):
            await fetcher.fetch(f"{site.base}{path}")


@pytest.mark.parametrize("url", ["http://[::1", "http://example.org:99999/", "http:///nohost"])
async def test_malformed_urls_are_refused(url: str) -> None:
    async with Fetcher() as fetcher:
        with pytest.raises(FetchRefusedError):
            await fetcher.fetch(url)


async def test_redirects_are_followed_up_to_the_limit(site: LocalSite) -> None:
    async with Fetcher(allowed_addresses=LOCAL, max_redirects=5) as fetcher:
        document = await fetcher.fetch(f"{site.base}/hop/4")
        assert document.url == f"{site.base}/page"
        with pytest.raises(FetchError, match="more than 5 redirects"):
            await fetcher.fetch(f"{site.base}/hop/5")


async def test_a_50_mb_response_is_cut_at_the_cap(site: LocalSite) -> None:
    async with Fetcher(allowed_addresses=LOCAL, max_bytes=5 * 1024 * 1024) as fetcher:
        with pytest.raises(FetchError, match="larger than 5,242,880 bytes"):
            await fetcher.fetch(f"{site.base}/huge")


async def test_a_slow_server_times_out(site: LocalSite) -> None:
    async with Fetcher(allowed_addresses=LOCAL, total_timeout=0.3) as fetcher:
        with pytest.raises(FetchError, match=r"timed out after 0\.3 s"):
            await fetcher.fetch(f"{site.base}/slow")


async def test_http_errors_are_fetch_errors(site: LocalSite) -> None:
    async with Fetcher(allowed_addresses=LOCAL) as fetcher:
        with pytest.raises(FetchError, match="HTTP 404"):
            await fetcher.fetch(f"{site.base}/not-found")


async def test_conditional_get_reports_not_modified(site: LocalSite) -> None:
    async with Fetcher(allowed_addresses=LOCAL) as fetcher:
        first = await fetcher.fetch(f"{site.base}/feed")
        again = await fetcher.fetch(f"{site.base}/feed", etag=first.etag)
    assert (first.not_modified, again.not_modified, again.body) == (False, True, b"")


async def test_connection_goes_to_the_vetted_address_not_a_second_lookup(
    site: LocalSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name only our vetting step can resolve still connects: aiohttp used the pinned
    address, so a rebinding DNS server gets no second say."""
    loop = asyncio.get_running_loop()
    port = int(site.base.rsplit(":", 1)[1])
    lookups: list[str] = []

    async def fake_getaddrinfo(host: str, *_args: Any, **_kwargs: Any) -> list[Any]:
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(loop, "getaddrinfo", fake_getaddrinfo)
    async with Fetcher(allowed_addresses=LOCAL) as fetcher:
        document = await fetcher.fetch(f"http://factchecks.invalid:{port}/page")
    assert document.body == b"<html>ok</html>"
    assert lookups == ["factchecks.invalid"]


async def test_a_name_resolving_to_an_internal_address_is_refused(
    site: LocalSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()

    async def fake_getaddrinfo(*_args: Any, **_kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 80)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.8.7", 80)),
        ]

    monkeypatch.setattr(loop, "getaddrinfo", fake_getaddrinfo)
    async with Fetcher() as fetcher:
        with pytest.raises(FetchRefusedError, match=r"10\.9\.8\.7"):
            await fetcher.fetch("http://mixed.invalid/feed")
    assert site.hits == []


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 (an address we refuse, not a bind)
        ("224.0.0.251", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 wrapping 169.254.169.254
        ("2002:a9fe:a9fe::1", False),  # 6to4 wrapping 169.254.169.254
    ],
)
async def test_public_address_classification(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public
