"""The tabular family on tables it has never seen: odd types, gaps, unseen values."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from pulse_ray.errors import ValidationError
from pulse_ray.models.fitting import (
    FeatureMasking,
    make_training,
    predict,
    to_tensors,
    train_epoch,
)
from pulse_ray.models.inputs import read_contract
from pulse_ray.models.metrics import best_threshold, classification_metrics
from pulse_ray.models.stats import TableStats, split_rows, table_stats
from pulse_ray.models.tabular import TabularNet, TabularPreprocessor, fit_preprocessor


def _fit(table: pa.Table, label: str) -> TabularPreprocessor:
    features = [c for c in table.column_names if c != label]
    return fit_preprocessor(table_stats(table), label=label, features=features)


def test_multiclass_string_labels_with_gaps_and_unseen_categories() -> None:
    table = pa.table({
        "colour": ["red", "blue", None, "red", "green"],
        "size": [1.5, None, 3.0, 4.0, 2.0],
        "flag": [True, False, None, True, True],
        "kind": ["a", "b", "c", "a", "b"],
    })
    pre = _fit(table, "kind")
    assert pre.classes == ["a", "b", "c"]
    numeric, categorical = pre.encode(table)
    assert numeric.shape == (5, 3) and categorical.shape == (5, 2)  # size: z, missing, log
    assert numeric[1, 1] == 1.0  # the missing flag
    unseen = pa.table({"colour": ["purple"], "size": [1.0], "flag": [None], "kind": ["a"]})
    _, codes = pre.encode(unseen)
    assert codes.tolist() == [[0, 0]]  # unknown bucket for an unseen value and a null
    net = TabularNet.for_preprocessor(pre)
    logits = net(torch.from_numpy(numeric), torch.from_numpy(categorical))
    assert logits.shape == (5, 3)


def test_boolean_and_integer_labels_and_positive_class() -> None:
    booleans = _fit(pa.table({"x": [1.0, 2.0, 3.0], "y": [True, False, True]}), "y")
    assert booleans.classes == ["false", "true"] and booleans.positive_index == 1
    integers = _fit(pa.table({"x": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 0]}), "y")
    assert integers.classes == ["0", "1"] and integers.positive_index == 1
    with pytest.raises(ValueError, match="numeric with many values"):
        _fit(pa.table({"x": [1, 2, 3], "y": [0.5, 1.7, 2.2]}), "y")
    with pytest.raises(ValueError, match="fewer than two classes"):
        _fit(pa.table({"x": [1, 2], "y": ["a", "a"]}), "y")


def test_stats_merge_like_one_pass(demo_table: pa.Table) -> None:
    whole = table_stats(demo_table)
    parts = TableStats(columns={})
    for start in range(0, demo_table.num_rows, 700):
        block = table_stats(demo_table.slice(start, 700))
        parts = parts.merge(TableStats.from_json(json.dumps(block.to_dict())))
    assert parts.rows == whole.rows
    for name in ("transaction_amount", "merchant_category", "is_fraud"):
        a, b = whole.columns[name], parts.columns[name]
        assert a.counts == b.counts and a.mean == pytest.approx(b.mean)


def test_the_split_is_deterministic_and_complete(demo_table: pa.Table) -> None:
    held = split_rows(demo_table, fraction=0.2, validation=True)
    kept = split_rows(demo_table, fraction=0.2, validation=False)
    assert held.num_rows + kept.num_rows == demo_table.num_rows
    assert 0.15 < held.num_rows / demo_table.num_rows < 0.25
    shuffled = demo_table.take(np.random.default_rng(1).permutation(demo_table.num_rows))
    again = split_rows(shuffled, fraction=0.2, validation=True)
    assert sorted(again["id"].to_pylist()) == sorted(held["id"].to_pylist())


def test_a_few_epochs_learn_the_demo_signal(demo_table: pa.Table) -> None:
    from pulse_ray.demo.transactions import transactions

    table = transactions(30_000, seed=2)
    features = [c for c in table.column_names if c not in ("id", "is_fraud")]
    train = split_rows(table, fraction=0.2, validation=False)
    valid = split_rows(table, fraction=0.2, validation=True)
    pre = fit_preprocessor(table_stats(train), label="is_fraud", features=features)
    data, held = to_tensors(pre, [train]), to_tensors(pre, [valid])
    net, optimizer, loss = make_training(pre, learning_rate=3e-3, seed=0)
    generator = torch.Generator().manual_seed(0)
    masking = FeatureMasking.of(pre)
    losses = [train_epoch(net, optimizer, loss, data, batch_size=512, generator=generator,
                          masking=masking) for _ in range(4)]
    assert losses[-1] < losses[0]
    probabilities = predict(net, pre, held.numeric, held.categorical)
    labels = held.labels.numpy()
    threshold = best_threshold(labels == 1, probabilities[:, 1])
    metrics = classification_metrics(labels, probabilities, positive_index=1,
                                      threshold=threshold)
    assert metrics["roc_auc"] > 0.75 and metrics["f1_score"] > 0.1


def test_metrics_agree_with_scikit_learn() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    scores = np.clip(labels * 0.3 + rng.random(2000) * 0.8, 0, 1)
    probabilities = np.stack([1 - scores, scores], axis=1)
    ours = classification_metrics(labels, probabilities, positive_index=1, threshold=0.5)
    predicted = scores >= 0.5
    assert ours["f1_score"] == pytest.approx(sklearn_metrics.f1_score(labels, predicted), abs=1e-5)
    assert ours["roc_auc"] == pytest.approx(sklearn_metrics.roc_auc_score(labels, scores),
                                            abs=1e-5)
    multi = rng.integers(0, 3, 900)
    p = rng.dirichlet([1, 1, 1], 900)
    ours = classification_metrics(multi, p, positive_index=0, threshold=0.5)
    assert ours["f1_score"] == pytest.approx(
        sklearn_metrics.f1_score(multi, p.argmax(1), average="macro"), abs=1e-5)


def test_the_input_schema_refuses_only_what_the_model_cannot_read(demo_table: pa.Table) -> None:
    features = [c for c in demo_table.column_names if c not in ("id", "is_fraud")]
    pre = fit_preprocessor(table_stats(demo_table), label="is_fraud", features=features)
    schema = pre.input_schema()
    # Without a contract every input is optional, and no value is out of range because
    # training never saw one like it (every amount in the sample was positive).
    assert all(spec.nullable and not spec.bounds() for spec in schema.fields.values())
    clean = schema.validate_input({"transaction_amount": -5, "hour": 99, "country": None})
    assert clean["transaction_amount"] == -5 and clean["device"] is None
    assert set(clean) == set(features)
    # An integer column takes a whole number however JSON writes it.
    assert schema.fields["hour"].type == "integer"
    assert schema.validate_input({"hour": 2.0, "txn_count_24h": 1e6})["hour"] == 2.0
    # Beyond anything training saw, either way: not a limit.
    assert schema.validate_input({"hour": -3, "account_age_days": 10**9})["hour"] == -3
    with pytest.raises(ValidationError) as caught:
        schema.validate_input({"transaction_amount": float("inf"), "hour": 2.5,
                               "merchant_category": 7, "colour": "red",
                               "account_age_days": "old", "avg_amount_30d": True})
    assert {d.field: d.message for d in caught.value.details} == {
        "colour": "is not an input of this model",
        "transaction_amount": "must be a finite number",
        "hour": "must be a whole number",
        "merchant_category": "must be a string",
        "account_age_days": "must be a number",
        "avg_amount_30d": "must be a number",
    }


def test_the_contract_makes_inputs_required_and_bounds_them(demo_table: pa.Table) -> None:
    features = [c for c in demo_table.column_names if c not in ("id", "is_fraud")]
    pre = fit_preprocessor(table_stats(demo_table), label="is_fraud", features=features)
    schema = pre.input_schema(read_contract({
        "transaction_amount": {"exclusive_minimum": 0},
        "hour": {"minimum": 0, "maximum": 23, "required": True},
        "country": {"required": True}}))
    assert schema.fields["hour"].model_dump() == {
        "type": "integer", "nullable": False, "minimum": 0, "maximum": 23, "categories": None}
    assert schema.fields["device"].nullable
    with pytest.raises(ValidationError) as caught:
        schema.validate_input({"transaction_amount": 0, "hour": 24, "country": None})
    assert [(d.field, d.message) for d in caught.value.details] == [
        ("transaction_amount", "must be a positive number"),
        ("hour", "must be at most 23"),
        ("country", "must not be null"),
    ]
    with pytest.raises(ValidationError) as caught:
        schema.validate_input({"country": "US"}, prefix="features.")
    assert [(d.field, d.message) for d in caught.value.details] == [
        ("features.hour", "is required")]


def test_inference_rows_encode_exactly_as_training_tables(demo_table: pa.Table) -> None:
    table = demo_table.append_column("flag", pa.array([i % 3 == 0 for i in range(3000)]))
    preprocessor = fit_preprocessor(table_stats(table), label="is_fraud",
                                    features=[c for c in table.column_names
                                              if c not in ("is_fraud", "id")])
    rows = table.slice(0, 50).to_pylist()
    rows[0]["device"] = None  # missing
    rows[1]["merchant_category"] = "never-seen"  # unseen category
    rows[2]["transaction_amount"] = None  # missing number
    by_table = preprocessor.encode(pa.Table.from_pylist(rows, schema=table.schema))
    by_rows = preprocessor.encode_rows(rows)
    np.testing.assert_allclose(by_rows[0], by_table[0], rtol=1e-6)
    np.testing.assert_array_equal(by_rows[1], by_table[1])
    assert by_rows[1][1, [c.name for c in preprocessor.categorical].index("merchant_category")] == 0


def test_a_regressor_saved_and_loaded_answers_a_number_even_for_a_huge_input(
        tmp_path: Path) -> None:
    from pulse_ray.models.artifacts import TrainedModel

    table = pa.table({"rooms": [1.0, 2.0, 3.0, 4.0, 5.0], "city": list("ababa"),
                      "price": [100.0, 180.0, 310.0, 390.0, 500.0]})
    pre = fit_preprocessor(table_stats(table), label="price", features=["rooms", "city"],
                           family="tabular-regressor")
    torch.manual_seed(0)
    TrainedModel(net=TabularNet.for_preprocessor(pre, "linear").eval(), preprocessor=pre,
                 architecture="linear").save(tmp_path)
    spec = json.loads((tmp_path / "model.json").read_text())
    assert (spec["family"], spec["architecture"]) == ("tabular-regressor", "linear")
    loaded = TrainedModel.load(str(tmp_path))
    assert loaded.architecture == "linear"
    (typical, huge) = loaded.predict([{"rooms": 3.0, "city": "a"}, {"rooms": 1e300}])
    assert set(typical) == {"price"} and isinstance(typical["price"], float)
    assert np.isfinite(huge["price"])  # clipped, not overflowed: JSON can carry it
    # Artifacts written before candidates existed hold the MLP.
    del spec["architecture"]
    mlp = TabularNet.for_preprocessor(pre)
    assert TrainedModel.from_parts(spec, _weights(mlp)).architecture == "mlp"


def _weights(net: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.getvalue()
