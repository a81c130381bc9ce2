"""Where webhooks may and may not go."""

from __future__ import annotations

import pytest

from pulse_ray.webhooks.guard import BlockedDestination, check_destination


def _resolve_to(address: str):  # type: ignore[no-untyped-def]
    return lambda host, port: [address]


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"),
    ("192.168.0.10", "private"), ("172.16.5.4", "private"), ("fd00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"), ("0.0.0.0", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"),
])
def test_internal_addresses_are_refused(address: str, reason: str) -> None:
    with pytest.raises(BlockedDestination, match=reason):
        check_destination("https://hooks.example.com/x", allow_hosts=(),
                          resolve=_resolve_to(address))


def test_public_addresses_and_allowed_hosts_pass() -> None:
    check_destination("https://hooks.example.com/x", allow_hosts=(),
                      resolve=_resolve_to("93.184.216.34"))
    check_destination("http://127.0.0.1:9000/x", allow_hosts=("127.0.0.1",),
                      resolve=_resolve_to("127.0.0.1"))


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://example.com/x", "http or https"), ("file:///etc/passwd", "http or https"),
    ("https:///nohost", "host"), ("https://user:pw@example.com/", "credentials"),
    ("https://example.com:99999/", "port"),
])
def test_malformed_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(BlockedDestination, match=reason):
        check_destination(url, allow_hosts=(), resolve=_resolve_to("93.184.216.34"))


def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(BlockedDestination, match="does not resolve"):
        check_destination("https://no-such-host.invalid/", allow_hosts=())


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_local_development_reaches_loopback_and_nothing_else_internal(address: str) -> None:
    check_destination("http://localhost:9000/x", allow_hosts=(), allow_loopback=True,
                      resolve=_resolve_to(address))
    for internal in ("10.1.2.3", "169.254.169.254", "192.168.0.10"):
        with pytest.raises(BlockedDestination):
            check_destination("http://hooks.internal/x", allow_hosts=(), allow_loopback=True,
                              resolve=_resolve_to(internal))
