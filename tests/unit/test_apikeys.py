from __future__ import annotations

import pytest

from pulse_ray.apikeys import (
    KEY_PREFIX,
    display_prefix,
    generate_secret,
    hash_secret,
    parse_secret,
)
from pulse_ray.errors import UnauthorizedError


def test_secrets_are_recognisable_distinct_and_valid() -> None:
    secrets_ = {generate_secret() for _ in range(200)}
    assert len(secrets_) == 200
    for secret in secrets_:
        assert secret.startswith(KEY_PREFIX)
        assert parse_secret(secret) == secret


def test_a_single_typo_fails_the_checksum() -> None:
    secret = generate_secret()
    i = len(KEY_PREFIX) + 5
    typo = secret[:i] + ("a" if secret[i] != "a" else "b") + secret[i + 1 :]
    with pytest.raises(UnauthorizedError, match="checksum"):
        parse_secret(typo)


@pytest.mark.parametrize(
    "token", ["", "pulse_sk_short", "sk_live_" + "a" * 38, KEY_PREFIX + "!" * 38]
)
def test_malformed_tokens_are_refused_before_any_lookup(token: str) -> None:
    with pytest.raises(UnauthorizedError, match="Malformed"):
        parse_secret(token)


def test_only_a_hash_and_a_short_prefix_are_derived() -> None:
    secret = generate_secret()
    digest = hash_secret(secret)
    assert len(digest) == 64 and secret not in digest
    assert secret.startswith(display_prefix(secret)) and len(display_prefix(secret)) < 16
