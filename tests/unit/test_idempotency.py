from __future__ import annotations

import pytest

from pulse_ray.errors import ConflictError, IdempotencyMismatchError, ValidationError
from pulse_ray.idempotency import ParsedBody, check_key, fingerprint, replay_or_refuse


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "ünïcode"])
def test_bad_keys_are_refused_on_the_header(key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_key(key)
    assert caught.value.details[0].field == "Idempotency-Key"


def test_json_bodies_compare_by_content() -> None:
    a = fingerprint("POST", "/v1/keys", "", b'{"name": "x", "plan": "pro"}')
    b = fingerprint("POST", "/v1/keys", "", b'{"plan":"pro","name":"x"}')
    assert a == b
    assert a != fingerprint("POST", "/v1/keys", "", b'{"plan":"free","name":"x"}')
    assert a != fingerprint("POST", "/v1/other", "", b'{"plan":"pro","name":"x"}')
    assert fingerprint("POST", "/p", "", b"not json") != fingerprint("POST", "/p", "", b"other")
    deep = b"[" * 5000 + b"]" * 5000  # past the parser's stack: compared as sent (fuzz)
    assert fingerprint("POST", "/p", "", deep) != fingerprint("POST", "/p", "", deep + b" ")


def test_replay_conflict_and_mismatch() -> None:
    replay = replay_or_refuse(request_hash="h", stored_hash="h", status_code=201,
                              content_type="application/json", body=b"{}")
    assert (replay.status_code, replay.body) == (201, b"{}")
    with pytest.raises(ConflictError):
        replay_or_refuse(request_hash="h", stored_hash="h", status_code=None,
                         content_type=None, body=None)
    with pytest.raises(IdempotencyMismatchError) as caught:
        replay_or_refuse(request_hash="h", stored_hash="other", status_code=201,
                         content_type=None, body=b"")
    assert caught.value.http_status == 422



def test_a_parsed_body_fingerprints_as_its_bytes_do() -> None:
    # The API hands over the body it parsed; a key used before the change still matches.
    assert fingerprint("POST", "/v1/keys", "", ParsedBody({"plan": "pro", "name": "x"})) == (
        fingerprint("POST", "/v1/keys", "", b'{"name": "x", "plan": "pro"}'))
    assert fingerprint("POST", "/p", "", ParsedBody("x")) != fingerprint("POST", "/p", "", b"x")
