"""``Idempotency-Key`` on POSTs: replay the first answer, refuse a reuse or a race.

Runs inside the JSON body middleware and fingerprints the body it left in the request's
context (the value it parsed, for a JSON one). The rules are ``pulse_ray/idempotency.py``;
the records are kept in the store.
"""

from __future__ import annotations

from datetime import timedelta

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pulse_ray.api.context import request_context
from pulse_ray.api.middleware.asgi import header, route_path, send_error
from pulse_ray.errors import PulseError
from pulse_ray.idempotency import ParsedBody, check_key, fingerprint, replay_or_refuse
from pulse_ray.store import Database
from pulse_ray.store import idempotency as repo
from pulse_ray.store.tables import IdempotencyRecord
from pulse_ray.timeutil import Clock

__all__ = ["IdempotencyMiddleware"]


class IdempotencyMiddleware:
    """Answers a POST that carries an ``Idempotency-Key`` from the store when the key
    was used before; otherwise runs it and keeps a successful answer."""

    def __init__(
        self, app: ASGIApp, *, database: Database, clock: Clock, ttl: timedelta,
        stale_after: timedelta,
    ) -> None:
        self.app = app
        self.database = database
        self.clock = clock
        self.ttl = ttl
        self.stale_after = stale_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = request_context(scope) if scope["type"] == "http" else None
        principal = context.principal if context and scope["method"] == "POST" else None
        raw_key = header(scope, b"idempotency-key") if principal else None
        if context is None or principal is None or raw_key is None:
            await self.app(scope, receive, send)
            return
        try:
            key = check_key(raw_key)
        except PulseError as error:
            await send_error(error, scope, receive, send)
            return
        body = context.body
        if body is None:
            raise RuntimeError("IdempotencyMiddleware must run inside JsonBodyMiddleware")
        request_hash = fingerprint(
            "POST", route_path(scope), scope.get("query_string", b"").decode("latin-1"),
            ParsedBody(body.value) if body.parsed else body.raw,
        )
        ids = {"key_id": principal.key_id, "idempotency_key": key}
        existing = await to_thread.run_sync(self._claim, ids, request_hash)
        if existing is not None:
            await self._answer_from(existing, request_hash, scope, receive, send)
            return
        await self._run_and_record(ids, scope, receive, send)

    def _claim(self, ids: dict[str, str], request_hash: str) -> IdempotencyRecord | None:
        with self.database.session() as session:
            return repo.claim(session=session, request_hash=request_hash, now=self.clock(),
                              ttl=self.ttl, stale_after=self.stale_after, **ids)

    async def _answer_from(
        self, existing: IdempotencyRecord, request_hash: str, scope: Scope,
        receive: Receive, send: Send,
    ) -> None:
        try:
            replay = replay_or_refuse(
                request_hash=request_hash, stored_hash=existing.request_hash,
                status_code=existing.status_code, content_type=existing.content_type,
                body=existing.body,
            )
        except PulseError as error:
            await send_error(error, scope, receive, send)
            return
        headers = [(b"content-length", str(len(replay.body)).encode()),
                   (b"idempotent-replayed", b"true")]
        if replay.content_type:
            headers.append((b"content-type", replay.content_type.encode("latin-1")))
        await send({"type": "http.response.start", "status": replay.status_code,
                    "headers": headers})
        await send({"type": "http.response.body", "body": replay.body})

    async def _run_and_record(
        self, ids: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        status = 500
        content_type: str | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            await to_thread.run_sync(self._finish, ids, status, content_type, b"".join(chunks))

    def _finish(
        self, ids: dict[str, str], status: int, content_type: str | None, body: bytes
    ) -> None:
        with self.database.session() as session:
            if 200 <= status < 300:
                repo.complete(session=session, status_code=status, content_type=content_type,
                              body=body, **ids)
            else:
                repo.release(session=session, **ids)
