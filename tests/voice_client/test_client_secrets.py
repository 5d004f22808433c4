"""Minting an ephemeral key: the GA request shape, and no trace of the real key in errors or reprs."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from voice_client.client_secrets import ClientSecretError, api_base, mint_client_secret
from voice_client.config import Config

KEY = "sk-real-key-must-not-leak"


def _config(tmp_path: Path) -> Config:
    return Config.from_env({"OPENAI_API_KEY": KEY, "DEFAULT_VOICE": "cedar"}, base_dir=tmp_path)


async def test_mint_posts_the_ga_body_and_returns_the_secret(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"value": "ek_abc123", "expires_at": 1900000000, "session": {"id": "sess_1", "type": "realtime"}}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        secret = await mint_client_secret(_config(tmp_path), expires_after_s=120, http=http)
    request = seen[0]
    assert str(request.url) == "https://api.openai.com/v1/realtime/client_secrets"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(request.content)
    assert body["expires_after"] == {"anchor": "created_at", "seconds": 120}
    assert body["session"]["type"] == "realtime" and body["session"]["audio"]["output"]["voice"] == "cedar"
    assert (secret.value, secret.expires_at) == ("ek_abc123", 1900000000)
    assert "ek_abc123" not in repr(secret)


async def test_a_refused_mint_names_the_status_but_never_the_key(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {KEY}."}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(ClientSecretError) as caught:
            await mint_client_secret(_config(tmp_path), http=http)
    assert caught.value.status_code == 401
    assert KEY not in str(caught.value) and "Incorrect API key" in str(caught.value)


def test_the_http_base_follows_the_socket_url() -> None:
    assert api_base("wss://api.openai.com/v1/realtime") == "https://api.openai.com/v1"
    assert api_base("ws://127.0.0.1:8765/v1/realtime") == "http://127.0.0.1:8765/v1"
