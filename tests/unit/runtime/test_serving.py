"""What the ingress makes of a Serve deployment's failures: a replica lost under a
call is asked again; saturation and lasting loss are 503s with Retry-After."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import numpy as np
import pytest
from ray.exceptions import ActorDiedError, ActorUnavailableError
from ray.serve.exceptions import BackPressureError

from pulse_ray.errors import UnavailableError
from pulse_ray.runtime.serving import ServeEncoder

VECTORS = np.ones((1, 3))


class _Handle:
    """A TextEncoder handle whose calls end, in turn, as ``outcomes`` says (the last
    outcome repeats)."""

    def __init__(self, *outcomes: Any) -> None:
        self._outcomes = list(outcomes)
        self.calls = 0
        self.encode = self

    def remote(self, texts: list[str]) -> Awaitable[np.ndarray]:
        outcome = self._outcomes[min(self.calls, len(self._outcomes) - 1)]
        self.calls += 1

        async def answer() -> np.ndarray:
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome  # type: ignore[no-any-return]

        return answer()


def _encode(handle: _Handle, lost_replica_retry_s: float = 5.0) -> np.ndarray:
    encoder = ServeEncoder(handle, lost_replica_retry_s=lost_replica_retry_s)  # type: ignore[arg-type]
    return asyncio.run(encoder.encode(["a"]))


@pytest.mark.parametrize("lost", [ActorDiedError(), ActorUnavailableError("gone", None)])
def test_a_call_whose_replica_died_is_sent_again(lost: Exception) -> None:
    handle = _Handle(lost, lost, VECTORS)
    assert (_encode(handle) == VECTORS).all()
    assert handle.calls == 3


def test_replicas_lost_past_the_budget_are_a_503_with_retry_after() -> None:
    handle = _Handle(ActorDiedError())
    started = time.monotonic()
    with pytest.raises(UnavailableError) as raised:
        _encode(handle, lost_replica_retry_s=0.3)
    assert time.monotonic() - started < 1
    assert raised.value.headers["Retry-After"] == "1"
    assert 2 <= handle.calls <= 4


def test_without_a_budget_a_lost_replica_is_a_503_at_once() -> None:
    handle = _Handle(ActorDiedError(), VECTORS)
    with pytest.raises(UnavailableError):
        _encode(handle, lost_replica_retry_s=0)
    assert handle.calls == 1


def test_saturation_is_a_503_and_not_sent_again() -> None:
    handle = _Handle(BackPressureError(num_queued_requests=3, max_queued_requests=3),
                     VECTORS)
    with pytest.raises(UnavailableError) as raised:
        _encode(handle)
    assert raised.value.http_status == 503 and handle.calls == 1


def test_an_error_of_the_call_itself_is_not_sent_again() -> None:
    handle = _Handle(ValueError("bad input"), VECTORS)
    with pytest.raises(ValueError):
        _encode(handle)
    assert handle.calls == 1
