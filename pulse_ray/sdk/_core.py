"""The SDK's sans-I/O core, shared by :class:`~pulse_ray.sdk.Pulse` and
:class:`~pulse_ray.sdk.AsyncPulse`.

Everything that is not I/O lives here once: what a request is (:class:`Call`), how it
is built, how a response is decoded, whether and when to try again
(:class:`RetryPolicy`, :func:`settle`). The two clients differ only in the loop that
sends and sleeps (a dozen lines each), and each endpoint is written once, in its
resource's module (``_keys``, ``_datasources``, ...), as a method that returns a
:class:`Call`, which :class:`endpoint` turns into a blocking method on ``Pulse`` and a
coroutine method on ``AsyncPulse`` (typed for both).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

import httpx

from pulse_ray.credentials import load_credentials
from pulse_ray.errors import (
    PulseError,
    RateLimitedError,
    RequestTimeoutError,
    UnauthorizedError,
    UnavailableError,
    from_envelope,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "AsyncClientBase",
    "Call",
    "Done",
    "Retry",
    "RetryPolicy",
    "SyncClientBase",
    "body",
    "endpoint",
    "no_content",
    "settle",
]

DEFAULT_BASE_URL = "http://127.0.0.1:8000"

T = TypeVar("T")
P = ParamSpec("P")

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# The request never reached the server: trying again cannot do anything twice.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _user_agent() -> str:
    try:
        return f"pulse-ray-python/{version('pulse-ray')}"
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "pulse-ray-python"


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One logical API call: built once, sent once per attempt, decoded by ``parse``.

    ``idempotency_key`` is fixed when the call is built, so every retry of a POST
    carries the same key and the server runs it at most once.
    """

    method: str
    path: str
    parse: Callable[[Any], T]
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    idempotency_key: str | None = None
    idempotent: bool = True  # safe to send again after a lost answer

    @classmethod
    def get(cls, path: str, parse: Callable[[Any], T], **params: Any) -> Call[T]:
        """A GET; ``None`` parameters are left out (the server's default applies)."""
        return cls("GET", path, parse, {k: v for k, v in params.items() if v is not None})

    @classmethod
    def post(
        cls, path: str, parse: Callable[[Any], T], body: Any = None, *,
        idempotency_key: str | None = None, auto_key: bool = True,
        idempotent: bool | None = None,
    ) -> Call[T]:
        """A POST with the caller's ``Idempotency-Key``, else a fresh uuid4 unless
        ``auto_key`` is off. It may be sent again after a lost answer if it has a key,
        or if ``idempotent`` says the route is safe to repeat anyway."""
        key = idempotency_key or (str(uuid.uuid4()) if auto_key else None)
        return cls("POST", path, parse, json=body, idempotency_key=key,
                   idempotent=key is not None if idempotent is None else idempotent)

    @classmethod
    def delete(cls, path: str, parse: Callable[[Any], T]) -> Call[T]:
        return cls("DELETE", path, parse)

    @classmethod
    def patch(cls, path: str, parse: Callable[[Any], T], body: Any) -> Call[T]:
        """A PATCH: idempotent here, as Pulse's PATCHes set fields to given values."""
        return cls("PATCH", path, parse, json=body)

    @classmethod
    def put(cls, path: str, parse: Callable[[Any], T], body: Any) -> Call[T]:
        """A PUT: it replaces the resource with ``body``, so it is safe to repeat."""
        return cls("PUT", path, parse, json=body)

    def headers(self, api_key: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {api_key}", "User-Agent": _user_agent()}
        if self.idempotency_key is not None:
            headers["Idempotency-Key"] = self.idempotency_key
        return headers


def no_content(body: Any) -> None:
    """``parse`` for routes that answer 204."""
    return None


def body(**fields: Any) -> dict[str, Any]:
    """A JSON body without the fields left at None, so the server's defaults apply."""
    return {k: v for k, v in fields.items() if v is not None}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try a call again, and how long to wait first.

    429 and 503 mean the server did not do the work, so any call may be retried;
    a transport failure only when the request never left, or the call is idempotent.
    The wait honours ``Retry-After`` (never sooner, plus up to ``base_s`` of jitter so
    clients told the same second do not all come back together); without one it is
    exponential with equal jitter (half fixed, half random), capped at ``cap_s``. A
    ``Retry-After`` beyond ``max_wait_s`` is not waited for: the error is raised, with
    ``retry_after_s``, for the caller to decide.
    """

    max_retries: int = 2
    base_s: float = 0.5
    cap_s: float = 8.0
    max_wait_s: float = 60.0

    def delay_s(
        self, attempt: int, retry_after_s: float | None, rand: Callable[[], float]
    ) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``; None: do not retry."""
        if attempt >= self.max_retries:
            return None
        if retry_after_s is not None:
            if retry_after_s > self.max_wait_s:
                return None
            return retry_after_s + rand() * self.base_s
        ceiling = min(self.cap_s, self.base_s * 2**attempt)
        return ceiling / 2 + rand() * ceiling / 2


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    value: T


@dataclass(frozen=True, slots=True)
class Retry:
    delay_s: float


def _transport_retryable(call: Call[Any], exc: httpx.TransportError) -> bool:
    if isinstance(exc, _NOT_SENT):
        return True
    if isinstance(exc, httpx.TimeoutException) and call.method == "POST":
        # It may still be running: with its key a retry would only meet 409 (in
        # progress), without one it would do the work twice.
        return False
    return call.idempotent


def _answer_lost_behind_proxy(status: int, body: Any) -> bool:
    """A 5xx without Pulse's envelope comes from the proxy in front, not from Pulse
    (which envelopes every error): Ray Serve's proxy answers a plain-text 500 when the
    ingress replica holding the request died. Like a connection lost mid-answer, the
    request may or may not have run, so only an idempotent call is sent again."""
    return status >= 500 and not (isinstance(body, dict) and "error" in body)


def _transport_error(exc: httpx.TransportError, base_url: str) -> PulseError:
    if isinstance(exc, _NOT_SENT):
        return UnavailableError(f"Cannot reach Pulse at {base_url}: {exc}")
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeoutError(f"No answer from Pulse at {base_url} in time: {exc}")
    return UnavailableError(f"Connection to Pulse at {base_url} failed: {exc}")


def _decode(call: Call[T], response: httpx.Response) -> T:
    if response.status_code == 204 or not response.content:
        return call.parse(None)
    try:
        body = response.json()
    except ValueError:
        raise PulseError(f"Pulse answered {response.status_code} with a body that is not "
                         "JSON") from None
    return call.parse(body)


def settle(
    call: Call[T], outcome: httpx.Response | httpx.TransportError, *, attempt: int,
    policy: RetryPolicy, base_url: str, rand: Callable[[], float],
) -> Done[T] | Retry:
    """What one attempt's outcome means: the value, a retry after a delay, or (raised)
    the typed error from the envelope."""
    if isinstance(outcome, httpx.TransportError):
        error = _transport_error(outcome, base_url)
        if _transport_retryable(call, outcome):
            delay = policy.delay_s(attempt, None, rand)
            if delay is not None:
                return Retry(delay)
        raise error from outcome
    if not outcome.is_error:
        return Done(_decode(call, outcome))
    try:
        body = outcome.json()
    except ValueError:
        body = None
    error = from_envelope(outcome.status_code, body, outcome.headers)
    if isinstance(error, RateLimitedError | UnavailableError):
        retry_after_s = error.retry_after_s
    elif _answer_lost_behind_proxy(outcome.status_code, body) and call.idempotent:
        retry_after_s = None
    else:
        raise error
    delay = policy.delay_s(attempt, retry_after_s, rand)
    if delay is None:
        raise error
    return Retry(delay)


class _ClientBase:
    """Key, URL and retry settings, resolved the same way by both clients."""

    def __init__(
        self, api_key: str | None, base_url: str | None, max_retries: int,
        rand: Callable[[], float] | None,
    ) -> None:
        # The saved login is read only when the argument and environment are silent.
        saved = None
        if not (api_key or os.environ.get("PULSE_API_KEY")) or not (
            base_url or os.environ.get("PULSE_BASE_URL")
        ):
            saved = load_credentials()
        self.api_key = api_key or os.environ.get("PULSE_API_KEY") or (saved and saved.api_key)
        self.base_url = (
            base_url
            or os.environ.get("PULSE_BASE_URL")
            or (saved and saved.base_url)
            or DEFAULT_BASE_URL
        )
        self.retry_policy = RetryPolicy(max_retries=max_retries)
        self._rand = rand or random.random

    def _headers(self, call: Call[Any]) -> dict[str, str]:
        if not self.api_key:
            raise UnauthorizedError("No API key: pass api_key, set PULSE_API_KEY or run "
                                    "`pulse auth login`")
        return call.headers(self.api_key)

    def _settle(self, call: Call[T], outcome: httpx.Response | httpx.TransportError,
                attempt: int) -> Done[T] | Retry:
        return settle(call, outcome, attempt=attempt, policy=self.retry_policy,
                      base_url=self.base_url, rand=self._rand)


class SyncClientBase(_ClientBase):
    """The blocking loop: send, settle, sleep, send again."""

    def __init__(
        self, api_key: str | None = None, *, base_url: str | None = None,
        timeout: float = 300.0, max_retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None, rand: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(api_key, base_url, max_retries, rand)
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        self._sleep = sleep or time.sleep

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _execute(self, call: Call[T]) -> T:
        headers = self._headers(call)
        attempt = 0
        while True:
            request = self._http.build_request(call.method, call.path, params=call.params,
                                               json=call.json, headers=headers)
            try:
                outcome: httpx.Response | httpx.TransportError = self._http.send(request)
            except httpx.TransportError as exc:
                outcome = exc
            step = self._settle(call, outcome, attempt)
            if isinstance(step, Done):
                return step.value
            self._sleep(step.delay_s)
            attempt += 1


class AsyncClientBase(_ClientBase):
    """The same loop, awaited."""

    def __init__(
        self, api_key: str | None = None, *, base_url: str | None = None,
        timeout: float = 300.0, max_retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rand: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(api_key, base_url, max_retries, rand)
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout,
                                       transport=transport)
        self._sleep = sleep or asyncio.sleep

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _execute(self, call: Call[T]) -> T:
        headers = self._headers(call)
        attempt = 0
        while True:
            request = self._http.build_request(call.method, call.path, params=call.params,
                                               json=call.json, headers=headers)
            try:
                outcome: httpx.Response | httpx.TransportError = await self._http.send(request)
            except httpx.TransportError as exc:
                outcome = exc
            step = self._settle(call, outcome, attempt)
            if isinstance(step, Done):
                return step.value
            await self._sleep(step.delay_s)
            attempt += 1


class endpoint(Generic[P, T]):  # noqa: N801 (used as a decorator, like property)
    """Makes one method that builds a :class:`Call` into the endpoint of both clients:
    on ``Pulse`` it returns ``T``, on ``AsyncPulse`` a coroutine of ``T``.

    The call is built when the method is called (not when it is awaited), so its
    idempotency key is fixed once per logical call.
    """

    def __init__(self, build: Callable[Concatenate[Any, P], Call[T]]) -> None:
        self._build = build
        self.__name__ = build.__name__
        self.__qualname__ = build.__qualname__
        self.__doc__ = build.__doc__
        signature = inspect.signature(build)
        # What help() shows on an instance: no self, no Call[...] return.
        self._signature = signature.replace(
            parameters=list(signature.parameters.values())[1:],
            return_annotation=inspect.Signature.empty)

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: SyncClientBase, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, obj: AsyncClientBase, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        if obj is None:
            return self
        build = self._build

        @functools.wraps(build)
        def bound(*args: Any, **kwargs: Any) -> Any:
            return obj._execute(build(obj, *args, **kwargs))

        bound.__signature__ = self._signature  # type: ignore[attr-defined]
        return bound
