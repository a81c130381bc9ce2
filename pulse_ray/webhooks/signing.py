"""Standard Webhooks secrets and signature headers (https://www.standardwebhooks.com)."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks import Webhook

__all__ = ["new_secret", "signed_headers"]


def new_secret() -> str:
    """``whsec_`` + base64 of 24 random bytes, the format receivers' libraries take."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def signed_headers(message_id: str, now: datetime, body: str,
                   secrets: tuple[str, ...]) -> dict[str, str]:
    """``webhook-id``/``-timestamp``/``-signature``; one ``v1,`` signature per live
    secret (the previous one too during a rotation's overlap), space-separated as the
    specification allows, so receivers on either secret verify."""
    signatures = " ".join(Webhook(secret).sign(message_id, now, body) for secret in secrets)
    return {"webhook-id": message_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signatures, "content-type": "application/json",
            "user-agent": "pulse-webhooks/1"}
