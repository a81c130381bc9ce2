"""The store's sealed values, all of them: what ``pulse secrets rotate-key`` re-seals."""

from __future__ import annotations

from sqlmodel import Session, col, select

from pulse_ray.store.engine import secrets_of
from pulse_ray.store.tables import Datasource, WebhookEndpoint

__all__ = ["reseal_all"]


def reseal_all(*, session: Session) -> int:
    """Seals every stored secret again with the newest key of the session's ring, in the
    caller's transaction (all or none); how many values it re-sealed.

    Raises:
        InternalError: a value no key of the ring opens.
    """
    box = secrets_of(session)
    count = 0
    for source in session.exec(select(Datasource).where(col(Datasource.url_sealed).is_not(None))):
        assert source.url_sealed is not None
        source.url_sealed = box.reseal(source.url_sealed)
        session.add(source)
        count += 1
    for endpoint in session.exec(select(WebhookEndpoint)):
        endpoint.secret = box.reseal(endpoint.secret)
        count += 1
        if endpoint.previous_secret is not None:
            endpoint.previous_secret = box.reseal(endpoint.previous_secret)
            count += 1
        session.add(endpoint)
    session.flush()
    return count
