"""Pulse for e-commerce (seed 002): session inference, product tagging, conversions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulse_ray.schemas.shop import (
    ConversionPublic,
    ProductIn,
    ProductPublic,
    SessionInferRequest,
    SessionInferResponse,
    TaggingJobPublic,
    TagResult,
)
from pulse_ray.sdk._core import Call, body, endpoint

__all__ = ["ShopEndpoints"]


class ShopEndpoints:
    """Personas and recommendations, Digital Twin tags, conversions."""

    @endpoint
    def infer_session(
        self, session: SessionInferRequest | Mapping[str, Any], *,
        idempotency_key: str | None = None,
    ) -> Call[SessionInferResponse]:
        """A live shopper session's persona and recommendations (the seed's body, as a
        dict or the model). Safe to retry without a key, like :meth:`infer`."""
        body = (session.model_dump(mode="json", exclude_none=True)
                if isinstance(session, SessionInferRequest) else dict(session))
        return Call.post("/v1/infer", SessionInferResponse.model_validate, body,
                         idempotency_key=idempotency_key, auto_key=False, idempotent=True)

    @endpoint
    def tag_products(
        self, products: Sequence[ProductIn | Mapping[str, Any]], *,
        idempotency_key: str | None = None,
    ) -> Call[TagResult | TaggingJobPublic]:
        """Upserts and tags products: the tagged products (a :class:`TagResult`) for a
        small request, a background :class:`TaggingJobPublic` for a large one."""
        body = {"products": [p.model_dump(mode="json", exclude_none=True)
                             if isinstance(p, ProductIn) else dict(p) for p in products]}
        return Call.post("/v1/products/tag", _tagged, body, idempotency_key=idempotency_key)

    @endpoint
    def get_tagging_job(self, job_id: str) -> Call[TaggingJobPublic]:
        return Call.get(f"/v1/products/tag/{job_id}", TaggingJobPublic.model_validate)

    @endpoint
    def get_product(self, product_id: str) -> Call[ProductPublic]:
        """A product and its Digital Twin tags."""
        return Call.get(f"/v1/products/{product_id}", ProductPublic.model_validate)

    @endpoint
    def create_conversion(
        self, session_id: str, product_id: str, value: float, currency: str, *,
        inference_id: str | None = None, idempotency_key: str | None = None,
    ) -> Call[ConversionPublic]:
        """Records a purchase; Pulse credits the recommendation that led to it."""
        return Call.post("/v1/conversions", ConversionPublic.model_validate, body(
            session_id=session_id, product_id=product_id, value=value, currency=currency,
            inference_id=inference_id), idempotency_key=idempotency_key)


def _tagged(body: Any) -> TagResult | TaggingJobPublic:
    if isinstance(body, dict) and body.get("object") == "tagging_job":
        return TaggingJobPublic.model_validate(body)
    return TagResult.model_validate(body)

