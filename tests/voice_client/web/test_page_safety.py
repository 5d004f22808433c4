"""The page is safe by default: loopback only, its own Origin and Host only, a strict CSP, one tab at a time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from voice_client.plain_view import PlainView
from voice_client.web.page import SECOND_TAB, WebOptions, WebPage


@pytest.fixture
async def page_url() -> AsyncIterator[str]:
    async with WebPage(WebOptions(port=0), PlainView(), None) as page:
        yield page.url


async def test_the_page_is_served_on_loopback_with_a_strict_content_security_policy(page_url: str) -> None:
    assert page_url.startswith("http://127.0.0.1:")
    async with httpx.AsyncClient() as http:
        page = await http.get(page_url)
        script = await http.get(page_url + "static/app.js")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert '<button id="start"' in page.text
    assert "//" not in page.text  # no absolute or protocol-relative address: everything is served here
    assert script.status_code == 200 and script.headers["content-security-policy"] == policy


async def test_a_foreign_host_header_is_refused(page_url: str) -> None:
    async with httpx.AsyncClient() as http:
        rebound = await http.get(page_url, headers={"Host": "attacker.example"})
    assert rebound.status_code == 400


@pytest.mark.parametrize("origin", ["http://attacker.example", "null", None])
async def test_a_websocket_from_a_foreign_origin_is_refused(page_url: str, origin: str | None) -> None:
    socket_url = page_url.replace("http://", "ws://") + "ws"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(socket_url, origin=origin):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403


async def test_a_second_tab_is_told_the_conversation_is_open_elsewhere(page_url: str) -> None:
    socket_url = page_url.replace("http://", "ws://") + "ws"
    origin = page_url.rstrip("/")
    async with connect(socket_url, origin=origin) as first:  # type: ignore[arg-type]
        async with connect(socket_url, origin=origin) as second:  # type: ignore[arg-type]
            message = json.loads(await second.recv())
            with pytest.raises(ConnectionClosed):
                await second.recv()
        assert message == {"type": "error", "message": SECOND_TAB}
        assert second.close_code == 4409
        await first.send(json.dumps({"type": "hello", "sample_rate": 48000}))  # the first tab still talks
        await first.ping()
    async with connect(socket_url, origin=origin) as again:  # a reload: the old tab let go, the new one is welcome
        await again.send(json.dumps({"type": "hello", "sample_rate": 48000}))
        await again.ping()
        assert again.close_code is None
