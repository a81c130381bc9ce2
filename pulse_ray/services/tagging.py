"""Products in, tagged product rows out: the text model embeds them in chunks, the
persona space scores them, :func:`~pulse_ray.shop.tags.tag` names their tags. The
API (now or in a background job) and `pulse demo shop` tag through this one class."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from pulse_ray.schemas.shop import ProductIn
from pulse_ray.shop.encoder import Encoder
from pulse_ray.shop.tags import PersonaSpace, ProductFields, product_text, tag
from pulse_ray.store.tables import Product

__all__ = ["CHUNK", "Tagger"]

CHUNK = 256  # texts per call to the text model


class Tagger:
    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self._space: PersonaSpace | None = None
        self._lock = asyncio.Lock()

    async def persona_space(self) -> PersonaSpace:
        """The personas' embeddings, computed on first use."""
        if self._space is None:
            async with self._lock:
                if self._space is None:
                    self._space = await PersonaSpace.build(self.encoder)
        return self._space

    async def tag(self, account: str, products: Sequence[ProductIn],
                  now: datetime) -> list[Product]:
        space = await self.persona_space()
        fields = [ProductFields(name=p.name, description=p.description, price=p.price,
                                category=p.category, rating=p.rating) for p in products]
        texts = [product_text(f) for f in fields]
        vectors = np.concatenate([await self.encoder.encode(texts[i:i + CHUNK])
                                  for i in range(0, len(texts), CHUNK)])
        scores = space.scores(vectors)
        return [
            Product(account=account, id=p.id, name=p.name, description=p.description,
                    price=p.price, category=p.category, image_url=p.image_url, rating=p.rating,
                    tags=tag(f, scores[i]), embedding=vectors[i].astype(np.float32).tobytes(),
                    tagged_at=now)
            for i, (p, f) in enumerate(zip(products, fields, strict=True))
        ]
