"""Signing in to the dashboard, and `pulse auth login`'s device codes.

A dashboard session is a random token in an HttpOnly cookie; the store keeps only its
SHA-256 and the key it was opened with, so the session acts with exactly that key's
account and scopes, ends when the key is revoked, and ends after
``dashboard_idle_timeout_s`` without a request. Its CSRF token is an HMAC of the
session token: nothing more to store, and it dies with the session.

The device flow follows RFC 8628: the CLI gets a device code (its secret, kept as a
hash here) and a short user code; a signed-in admin approves the user code; the CLI's
next poll makes the key in the approver's account — then, so the secret is never
stored — and the code is spent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from cryptography.fernet import Fernet, InvalidToken

from pulse_ray.auth import Principal, Scope
from pulse_ray.errors import ForbiddenError, NotFoundError, RateLimitedError
from pulse_ray.schemas.device import DeviceCodeCreate, DeviceToken
from pulse_ray.schemas.keys import ApiKeyCreate
from pulse_ray.store import Database
from pulse_ray.store import dashboard as repo
from pulse_ray.store import keys as key_repo
from pulse_ray.timeutil import Clock

__all__ = ["MAX_PENDING_CODES", "DeviceGrant", "PendingDevice", "SignInService",
           "normalize_user_code"]

# No vowels (no words), no look-alikes: what GitHub's device flow uses.
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
_USER_CODE_LEN = 8
# A session's last-seen time is written at most this often (not on every page).
_TOUCH_EVERY = timedelta(seconds=60)
MAX_PENDING_CODES = 1000
"""Device codes that may wait at once (expired ones are deleted as new ones come)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _flash_box(token: str) -> Fernet:
    key = hmac.new(token.encode("utf-8"), b"pulse-dashboard-flash", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def normalize_user_code(value: str) -> str:
    """``wdjb-mjht`` and ``WDJBMJHT`` are the same code."""
    return "".join(c for c in value.upper() if c.isalnum())


@dataclass(frozen=True, slots=True)
class DeviceGrant:
    device_code: str
    user_code: str  # shown as XXXX-XXXX
    expires_in: int


@dataclass(frozen=True, slots=True)
class PendingDevice:
    """What the approval page shows about a code."""

    user_code: str
    name: str
    scopes: list[Scope]
    status: str
    expired: bool


class SignInService:
    """Sessions and device codes over the store; ``authenticate`` checks a key's secret
    (the request path's :class:`~pulse_ray.auth.Authenticator`)."""

    def __init__(self, *, database: Database, authenticate: Callable[[str], Principal],
                 clock: Clock, idle_timeout_s: float, device_code_ttl_s: float) -> None:
        self._database = database
        self._authenticate = authenticate
        self._clock = clock
        self._idle = timedelta(seconds=idle_timeout_s)
        self._device_ttl = timedelta(seconds=device_code_ttl_s)

    # --- sessions ---------------------------------------------------------------------

    def sign_in(self, secret: str) -> tuple[str, Principal]:
        """A new session for the key ``secret``: its token (for the cookie only).

        Raises:
            UnauthorizedError: the key is malformed, unknown or revoked.
        """
        principal = self._authenticate(secret)
        token = secrets.token_urlsafe(32)
        with self._database.session() as session:
            now = self._clock()
            repo.add_session(session=session, token_hash=_digest(token),
                             key_id=principal.key_id, now=now, idle_before=now - self._idle)
        return token, principal

    def principal(self, token: str) -> Principal | None:
        """Who the session ``token`` acts as; None when it is unknown, idle past the
        timeout, or its key is revoked."""
        now = self._clock()
        token_hash = _digest(token)
        with self._database.session() as session:
            found = repo.session_principal(session=session, token_hash=token_hash,
                                           seen_after=now - self._idle)
            if found is None:
                return None
            principal, last_seen = found
            if principal.revoked_at is not None:
                repo.delete_session(session=session, token_hash=token_hash)
                return None
            if now - last_seen >= _TOUCH_EVERY:
                repo.touch_session(session=session, token_hash=token_hash, now=now)
        return principal

    def sign_out(self, token: str) -> None:
        with self._database.session() as session:
            repo.delete_session(session=session, token_hash=_digest(token))

    def hold(self, token: str, message: str) -> None:
        """Keeps ``message`` (a new key's secret) for the session's next :meth:`take`,
        so a form can answer with a redirect (a refresh then repeats nothing). Stored
        encrypted with a key derived from the session token, which the store never
        holds: a leaked table shows no secret."""
        with self._database.session() as session:
            repo.set_flash(session=session, token_hash=_digest(token),
                           flash=_flash_box(token).encrypt(message.encode()).decode())

    def take(self, token: str) -> str | None:
        """The message held for the session, once (it is deleted as it is read)."""
        with self._database.session() as session:
            sealed = repo.pop_flash(session=session, token_hash=_digest(token))
        if sealed is None:
            return None
        try:
            return _flash_box(token).decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None

    @staticmethod
    def csrf_token(session_token: str) -> str:
        """The CSRF token of a session: derived, so it needs no storage."""
        return hmac.new(session_token.encode("utf-8"), b"pulse-dashboard-csrf",
                        hashlib.sha256).hexdigest()

    # --- device codes -----------------------------------------------------------------

    def start_device(self, body: DeviceCodeCreate) -> DeviceGrant:
        """A new code. Asking needs no key, so the codes waiting at once are capped.

        Raises:
            RateLimitedError: :data:`MAX_PENDING_CODES` are waiting already.
        """
        now = self._clock()
        device_code = secrets.token_urlsafe(32)
        user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(_USER_CODE_LEN))
        with self._database.session() as session:
            if repo.count_device_codes(session=session) >= MAX_PENDING_CODES:
                raise RateLimitedError("Too many sign-in codes are waiting for approval; "
                                       "retry in a minute", retry_after_s=60)
            repo.add_device_code(session=session, device_code_hash=_digest(device_code),
                                 user_code=user_code, name=body.name, scopes=body.scopes,
                                 now=now, expires_at=now + self._device_ttl)
        return DeviceGrant(device_code=device_code,
                           user_code=f"{user_code[:4]}-{user_code[4:]}",
                           expires_in=int(self._device_ttl.total_seconds()))

    def pending(self, user_code: str) -> PendingDevice:
        """Raises NotFoundError for a code that does not exist."""
        with self._database.session() as session:
            row = repo.device_code_by_user_code(session=session,
                                                user_code=normalize_user_code(user_code))
            if row is None:
                raise NotFoundError("No such code: check it against the one your terminal shows")
            code = normalize_user_code(row.user_code)
            return PendingDevice(user_code=f"{code[:4]}-{code[4:]}", name=row.name,
                                 scopes=list(row.scopes), status=row.status,
                                 expired=row.expires_at <= self._clock())

    def decide(self, principal: Principal, user_code: str, *, approve: bool) -> None:
        """Approves (or denies) a pending code for ``principal``'s account.

        Approving mints a key, so it needs the admin scope, as creating one does (and
        an admin holds every scope: the new key is never wider than the approver's).

        Raises:
            ForbiddenError: the approver is not an admin.
            NotFoundError: no such code, or it expired or was already decided.
        """
        principal.require(Scope.ADMIN)
        with self._database.session() as session:
            row = repo.device_code_by_user_code(session=session,
                                                user_code=normalize_user_code(user_code))
            if row is None or row.status != "pending" or row.expires_at <= self._clock():
                raise NotFoundError("This code has expired or was already used: run "
                                    "`pulse auth login` again")
            row.status = "approved" if approve else "denied"
            row.account, row.approved_by = principal.account, principal.key_id
            session.add(row)

    def redeem(self, device_code: str) -> DeviceToken:
        """The CLI's poll: pending until approved, then the new key (on the approving
        key's plan), once.

        Raises:
            NotFoundError: an unknown, expired or spent code.
            ForbiddenError: the user denied it.
        """
        now = self._clock()
        with self._database.session() as session:
            row = repo.device_code_by_hash(session=session, device_code_hash=_digest(device_code))
            if row is None or row.status == "used" or row.expires_at <= now:
                raise NotFoundError("This code has expired or was already used: run "
                                    "`pulse auth login` again")
            if row.status == "denied":
                raise ForbiddenError("The sign-in was denied in the dashboard")
            if row.status == "pending":
                return DeviceToken(status="pending")
            account, approved_by = row.account, row.approved_by  # set on approval
            assert account is not None and approved_by is not None
            approver = key_repo.get_key(session=session, key_id=approved_by, account=account)
            create = ApiKeyCreate(name=row.name, scopes=list(row.scopes), plan=approver.plan)
            key, secret = key_repo.create_key(session=session, key_create=create,
                                              account=account, now=now, by_key=approved_by)
            row.status, row.key_id = "used", key.id
            session.add(row)
        return DeviceToken(status="approved", key=secret, key_id=key.id, name=key.name)
