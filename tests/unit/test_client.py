"""The SDK against a mocked transport: typed errors from the envelope, key resolution."""

from __future__ import annotations

import httpx
import pytest

from pulse_ray.client import Pulse
from pulse_ray.credentials import Credentials, save_credentials
from pulse_ray.errors import UnauthorizedError, UnavailableError
from pulse_ray.plans import Family


def _transport(status: int, body: object, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handle)


def test_whoami_sends_the_key_and_parses_the_model() -> None:
    seen: list[httpx.Request] = []
    body = {"id": "key_1", "name": "me", "plan": "pro", "scopes": ["read"],
            "limits": {"inference": "unlimited", "tagging": "unlimited",
                       "default": {"requests": 600, "per": "minute", "burst": 100}}}
    with Pulse("pulse_sk_abc", base_url="http://pulse", transport=_transport(200, body, seen)) as c:
        me = c.whoami()
    assert me.plan == "pro" and me.limits.for_family(Family.DEFAULT).capacity == 100
    assert seen[0].headers["authorization"] == "Bearer pulse_sk_abc"
    assert str(seen[0].url) == "http://pulse/v1/auth/whoami"


def test_errors_come_back_typed() -> None:
    envelope = {"error": {"code": "UNAUTHORIZED", "message": "revoked", "details": []}}
    client = Pulse("k", base_url="http://pulse", transport=_transport(401, envelope, []))
    with pytest.raises(UnauthorizedError, match="revoked"):
        client.whoami()


def test_unreachable_service_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = Pulse("k", base_url="http://pulse", transport=httpx.MockTransport(refuse))
    with pytest.raises(UnavailableError, match="Cannot reach"):
        client.whoami()


def test_key_comes_from_argument_then_env_then_saved_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    save_credentials(Credentials(api_key="saved", base_url="http://saved:1"))
    assert (Pulse().api_key, Pulse().base_url) == ("saved", "http://saved:1")
    monkeypatch.setenv("PULSE_API_KEY", "from-env")
    monkeypatch.setenv("PULSE_BASE_URL", "http://env:2")
    assert (Pulse().api_key, Pulse().base_url) == ("from-env", "http://env:2")
    assert Pulse("explicit").api_key == "explicit"


def test_no_key_at_all_is_a_clear_error() -> None:
    with pytest.raises(UnauthorizedError, match="pulse auth login"):
        Pulse().whoami()
