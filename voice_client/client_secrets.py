"""Ephemeral Realtime credentials: mint a short-lived client secret for a browser or device.

`POST /v1/realtime/client_secrets` with the real API key; the returned `ek_...` value opens
sessions until it expires and is all a less-trusted client ever sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from voice_client.config import Config


class ClientSecretError(RuntimeError):
    """Minting failed; `status_code` is the HTTP status (0 when the server was unreachable)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"client secret not minted (HTTP {status_code}): {message}")
        self.status_code = status_code


@dataclass(frozen=True)
class ClientSecret:
    """A minted secret. `repr` hides the value so it cannot leak into logs by accident."""

    value: str = field(repr=False)
    """The `ek_...` bearer token."""
    expires_at: int
    """Unix time (seconds) after which no new session can be opened with it."""
    session: dict[str, Any] = field(repr=False)
    """The effective session config baked into the secret."""


def api_base(realtime_url: str) -> str:
    """The HTTP API base for a Realtime socket URL (`wss://host/v1/realtime` -> `https://host/v1`)."""
    parts = urlsplit(realtime_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    path = parts.path.removesuffix("/").removesuffix("/realtime")
    return urlunsplit((scheme, parts.netloc, path, "", ""))


async def mint_client_secret(
    config: Config, *, expires_after_s: int = 600, http: httpx.AsyncClient | None = None
) -> ClientSecret:
    """Mint a secret for `config`'s model, voice and instructions, valid for `expires_after_s` (10..7200).

    Raises:
        ClientSecretError: on an HTTP error or an unreachable server; the API key is never in the message.
        ValueError: if `expires_after_s` is out of range.
    """
    if not 10 <= expires_after_s <= 7200:
        raise ValueError(f"expires_after_s must be 10..7200, got {expires_after_s}")
    body = {
        "expires_after": {"anchor": "created_at", "seconds": expires_after_s},
        "session": {
            "type": "realtime",
            "model": config.model,
            "instructions": config.instructions,
            "audio": {"output": {"voice": config.voice}},
        },
    }
    headers = {"Authorization": f"Bearer {config.api_key}"}
    url = f"{api_base(config.realtime_url)}/realtime/client_secrets"
    client = http or httpx.AsyncClient(timeout=httpx.Timeout(20))
    try:
        response = await client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise ClientSecretError(0, type(exc).__name__) from None
    finally:
        if http is None:
            await client.aclose()
    if response.status_code != 200:
        message = (
            _error_message(response).replace(config.api_key, "***") if config.api_key else _error_message(response)
        )
        raise ClientSecretError(response.status_code, message)
    data = response.json()
    return ClientSecret(data["value"], int(data["expires_at"]), data.get("session", {}))


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase or "no details"
