"""What a prediction is kept by: the prediction cache, keyed by version and input."""

from __future__ import annotations

from pulse_ray.models.inputs import InputSchema
from pulse_ray.predictions import PredictionCache, ServedModel


def _served(version: str) -> ServedModel:
    return ServedModel(account="acme", name="m", model_row_id="model_1", version=version,
                       artifact_uri="/a", input_schema=InputSchema(fields={}))


def test_the_prediction_cache_is_bounded_and_keyed_by_version() -> None:
    cache = PredictionCache(max_entries=2)
    v1, v2 = _served("1"), _served("2")
    cache.put(PredictionCache.key(v1, {"a": 1, "b": 2}), {"y": 1})
    assert cache.get(PredictionCache.key(v1, {"b": 2, "a": 1})) == {"y": 1}  # key order
    assert cache.get(PredictionCache.key(v2, {"a": 1, "b": 2})) is None
    cache.put(PredictionCache.key(v1, {"a": 2}), {"y": 2})
    cache.put(PredictionCache.key(v1, {"a": 3}), {"y": 3})
    assert cache.get(PredictionCache.key(v1, {"a": 1, "b": 2})) is None  # evicted
    # One input to the model, one key: a whole number sent as a float finds it.
    cache.put(PredictionCache.key(v1, {"a": 4, "b": None}), {"y": 4})
    assert cache.get(PredictionCache.key(v1, {"b": None, "a": 4.0})) == {"y": 4}
    assert cache.get(PredictionCache.key(v1, {"a": 4, "b": "x"})) is None
    off = PredictionCache(max_entries=0)
    off.put(PredictionCache.key(v1, {}), {"y": 0})
    assert off.get(PredictionCache.key(v1, {})) is None
