"""SIGKILL of a Serve replica under steady load, measured (issue 19, item 5): shared by
the chaos tests in tests/integration/test_inference.py and loadtests/bench_rollout.py,
so the benchmark's figure is the test's procedure, not a look-alike.

Needs a connected Ray (``ray.init``) with its state API, in the calling process.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import httpx
from ray.util.state import list_actors

__all__ = ["Answer", "Kill", "SteadyLoad", "kill_one_under_load", "replica_pids"]


@dataclass
class Answer:
    sent: float  # monotonic seconds
    done: float
    status: int  # 0: no HTTP answer at all (the connection broke)
    body: str
    retry_after: str | None


class SteadyLoad:
    """``clients`` threads, each posting ``body()`` to ``url`` every ``every_s`` (or as
    soon as its last answer came, when slower; at least ``after_failure_s`` after a
    failure), recording every outcome."""

    def __init__(self, url: str, headers: dict[str, str], body: Callable[[], dict[str, Any]],
                 *, clients: int = 4, every_s: float = 0.05, after_failure_s: float = 0.0,
                 timeout_s: float = 60) -> None:
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(
            target=self._loop, args=(url, headers, body, every_s, after_failure_s, timeout_s))
            for _ in range(clients)]

    def _loop(self, url: str, headers: dict[str, str], body: Callable[[], dict[str, Any]],
              every_s: float, after_failure_s: float, timeout_s: float) -> None:
        with httpx.Client(headers=headers, timeout=timeout_s) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    r = client.post(url, json=body())
                    answer = Answer(sent, time.monotonic(), r.status_code, r.text,
                                    r.headers.get("Retry-After"))
                except httpx.TransportError as exc:
                    answer = Answer(sent, time.monotonic(), 0, repr(exc), None)
                self.answers.append(answer)
                # A stopped service refuses at once: pause after a failure, no busy loop.
                pace = every_s if answer.status == 200 else max(every_s, after_failure_s)
                time.sleep(max(0.0, pace - (time.monotonic() - sent)))

    def __enter__(self) -> Self:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def completed_between(self, start: float, end: float) -> int:
        return sum(1 for a in self.answers if a.status == 200 and start <= a.done < end)


def replica_pids(app: str, deployment: str) -> list[int]:
    actors = list_actors(filters=[("class_name", "=", f"ServeReplica:{app}:{deployment}"),
                                  ("state", "=", "ALIVE")])
    return [a.pid for a in actors]


@dataclass
class Kill:
    """What one SIGKILL under load did."""

    answers: list[Answer]
    killed: float  # monotonic seconds
    replicas: int  # alive at the kill, the killed one included
    before: float  # 200s per second over the 2 s before the kill
    recovered: float | None  # seconds after the kill; None: not within 30 s

    @property
    def failed(self) -> list[Answer]:
        return [a for a in self.answers if a.status != 200]

    def per_second(self) -> list[int]:
        """200s completed in each whole second from 3 s before the kill to the end."""
        end = max(a.done for a in self.answers)
        return [sum(1 for a in self.answers if a.status == 200
                    and self.killed + s <= a.done < self.killed + s + 1)
                for s in range(-3, int(end - self.killed) + 1)]

    def summary(self, name: str) -> str:
        slowest = max(a.done - a.sent for a in self.answers if a.done > self.killed)
        last_sent = max((a.sent - self.killed for a in self.failed), default=float("nan"))
        back = "never" if self.recovered is None else f"{self.recovered:.1f} s"
        return (f"{name}: SIGKILL of 1 of {self.replicas} replicas: sent {len(self.answers)}, "
                f"failed {len(self.failed)} "
                f"{sorted({(a.status, a.body[:120]) for a in self.failed})}, the last one sent "
                f"{last_sent:+.2f} s after the kill, throughput ({self.before:.0f}/s before) "
                f"back after {back}, slowest answer after the kill {slowest:.1f} s")


def kill_one_under_load(url: str, headers: dict[str, str], body: Callable[[], dict[str, Any]],
                        app: str, deployment: str) -> Kill:
    """Four clients post ``body()`` to ``url`` for 3 s, then one ``deployment`` replica of
    Serve application ``app`` is SIGKILLed, and the load goes on until a second's 200s
    are back to 0.8x the rate before (noise on a shared machine), at most 30 s."""
    with SteadyLoad(url, headers, body) as load:
        time.sleep(3)
        before = load.completed_between(time.monotonic() - 2, time.monotonic()) / 2
        pids = replica_pids(app, deployment)
        assert pids, f"no {deployment} replica of {app} alive"
        killed = time.monotonic()
        os.kill(pids[0], signal.SIGKILL)
        recovered = None
        while time.monotonic() - killed < 30:
            time.sleep(0.5)
            now = time.monotonic()
            if now - killed >= 2 and load.completed_between(now - 1, now) >= 0.8 * before:
                recovered = now - killed
                break
        time.sleep(1)
    return Kill(load.answers, killed, len(pids), before, recovered)
