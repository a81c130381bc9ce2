"""The shared training step: features masked at random, so a model trained on a table
without gaps reads a request that leaves most of its inputs out."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import torch

from pulse_ray.models.artifacts import TrainedModel
from pulse_ray.models.fitting import FeatureMasking, make_training, to_tensors, train_epoch
from pulse_ray.models.stats import table_stats
from pulse_ray.models.tabular import TabularPreprocessor, fit_preprocessor


def _table(rows: int, seed: int) -> pa.Table:
    """No missing values anywhere; y depends most on x1, then on x2, x3, x4 and shop."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {f"x{i}": rng.normal(0, 1, rows) for i in range(1, 7)}
    columns["shop"] = rng.choice(["a", "b", "c", "d"], rows)
    score = (2.5 * columns["x1"] + 1.5 * columns["x2"] + columns["x3"] - columns["x4"]
             + 1.5 * (columns["shop"] == "a") - 0.4)
    columns["y"] = rng.random(rows) < 1 / (1 + np.exp(-score))
    return pa.table(columns)


def _fit(table: pa.Table) -> TabularPreprocessor:
    return fit_preprocessor(table_stats(table), label="y",
                            features=[c for c in table.column_names if c != "y"])


def test_masked_features_take_exactly_the_encoding_of_a_missing_input() -> None:
    table = _table(4000, seed=1)
    pre = _fit(table)
    data = to_tensors(pre, [table])
    masking = FeatureMasking.of(pre)
    numeric, categorical = masking(data.numeric, data.categorical,
                                   torch.Generator().manual_seed(0))
    # What inference feeds the network for a request that sends nothing at all.
    nothing_numeric, nothing_categorical = pre.encode_rows([{}])
    assert not nothing_categorical.any()  # the unknown index
    owners = pre.numeric_owners()
    touched = torch.zeros(len(numeric), dtype=torch.bool)
    for j in range(len(pre.numeric)):  # a feature's columns are masked all together
        columns = torch.from_numpy(owners == j)
        changed = (numeric[:, columns] != data.numeric[:, columns]).any(dim=1)
        expected = torch.from_numpy(nothing_numeric[0])[columns].expand(int(changed.sum()), -1)
        assert torch.equal(numeric[changed][:, columns], expected)
        touched |= changed
    changed = categorical != data.categorical
    assert not categorical[changed].any()
    touched |= changed.any(dim=1)
    assert 0.15 < float(touched.float().mean()) < 0.25  # a quarter of the rows, minus a few
    # A masked row may lose anything from one input to all of them.
    lost = (numeric[:, owners == 0] != data.numeric[:, owners == 0]).any(dim=1)
    assert 0 < int(lost.sum()) < len(numeric)
    unmasked, same = FeatureMasking.of(pre, masked_rows=0.0)(
        data.numeric, data.categorical, torch.Generator().manual_seed(0))
    assert torch.equal(unmasked, data.numeric) and torch.equal(same, data.categorical)


def test_a_model_trained_without_gaps_answers_from_the_one_input_it_is_given() -> None:
    table = _table(8000, seed=0)
    pre = _fit(table)
    data = to_tensors(pre, [table])
    net, optimizer, loss = make_training(pre, learning_rate=3e-3, seed=0)
    generator = torch.Generator().manual_seed(0)
    masking = FeatureMasking.of(pre)
    for _ in range(5):
        train_epoch(net, optimizer, loss, data, batch_size=256, generator=generator,
                    masking=masking)
    model = TrainedModel(net=net.eval(), preprocessor=pre)
    x1, y = table["x1"].to_numpy(), table["y"].to_numpy()
    scores = []
    for value in (-1.0, 0.0, 1.0):
        # Only x1 is sent: the answer should be what the data says about rows with
        # that x1 whatever the rest, not what an out-of-distribution row happens to get.
        (output,) = model.predict([{"x1": value, **dict.fromkeys(
            ("x2", "x3", "x4", "x5", "x6", "shop"))}])
        observed = y[np.abs(x1 - value) < 0.25].mean()
        assert abs(output["confidence"] - observed) < 0.1, (value, output, observed)
        scores.append(output["confidence"])
    assert scores[0] < scores[1] < scores[2]
