"""The events a client can subscribe to are the events Pulse sends."""

from __future__ import annotations

from typing import get_args

from pulse_ray.schemas.webhooks import Event
from pulse_ray.webhooks.events import SUBSCRIBABLE


def test_every_event_pulse_sends_can_be_subscribed_to_and_no_other() -> None:
    # model.rollout was sent and documented while POST /v1/webhooks refused it.
    assert set(get_args(Event)) == {event.value for event in SUBSCRIBABLE}
