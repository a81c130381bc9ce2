"""How a run picks its model: batch size from the table, early stopping on the
validation loss, the better candidate kept, and the metrics it is judged by."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
import torch

from pulse_ray.models.fitting import Fitting, to_tensors
from pulse_ray.models.metrics import calibration_metrics, regression_metrics
from pulse_ray.models.selection import (
    EarlyStopping,
    batch_size_for,
    calibrate,
    choose,
    evaluate,
    fit_temperature,
)
from pulse_ray.models.stats import split_rows, table_stats
from pulse_ray.models.tabular import TabularPreprocessor, fit_preprocessor


def test_a_small_table_takes_smaller_batches_a_large_one_the_option() -> None:
    assert batch_size_for(100, 1024) == 16  # never under 16 rows
    assert batch_size_for(3200, 1024) == 100  # 32 steps an epoch
    assert batch_size_for(1_000_000, 1024) == 1024  # the option is a ceiling
    assert batch_size_for(5000, 64) == 64


def test_early_stopping_waits_patience_epochs_after_the_best() -> None:
    stopping = EarlyStopping(patience=3)
    for epoch, loss in enumerate([1.0, 0.8, 0.9, 0.85]):
        assert stopping.update(epoch, loss) == (epoch in (0, 1))
        assert not stopping.stopped
    assert not stopping.update(4, 0.79995)  # better by less than 0.01%: not better
    assert stopping.stopped and stopping.best_epoch == 1 and stopping.best_loss == 0.8


def test_a_non_finite_loss_never_counts_as_best() -> None:
    stopping = EarlyStopping(patience=2)
    assert not stopping.update(0, math.nan)
    assert not stopping.update(1, math.inf)
    assert stopping.stopped and stopping.best_epoch == -1


def test_the_simpler_is_kept_unless_the_other_is_better_beyond_one_standard_error() -> None:
    rng = np.random.default_rng(0)
    mlp = rng.exponential(0.2, 400)
    # Worse on every row by about 0.1: far beyond the noise of 400 paired rows.
    assert choose({"linear": mlp + rng.uniform(0.05, 0.15, 400), "mlp": mlp}) == "mlp"
    assert choose({"linear": mlp, "mlp": mlp}) == "linear"  # a tie
    # Worse on average, but by less than the noise: one row of twenty makes the gap.
    few = np.full(20, 0.05)
    unlucky = few.copy()
    unlucky[:2] = [1.0, 0.0]
    assert unlucky.mean() > few.mean() and choose({"linear": unlucky, "mlp": few}) == "linear"
    assert choose({"linear": np.array([math.inf, 0.1]), "mlp": np.array([0.5, 0.5])}) == "mlp"
    with pytest.raises(ValueError, match="finite"):
        choose({"linear": np.array([math.inf]), "mlp": np.array([])})


def test_the_temperature_undoes_over_and_under_confidence() -> None:
    rng = np.random.default_rng(1)
    rows = 5000
    logits = rng.normal(0, 2, (rows, 3))
    truth = softmax(logits)
    labels = np.array([rng.choice(3, p=p) for p in truth])
    for factor in (0.3, 3.0):  # too unsure, too sure
        said = softmax(logits * factor)
        temperature = fit_temperature(said, labels)
        assert temperature == pytest.approx(factor, rel=0.1)
        fixed = calibrate(said, temperature)
        assert calibration_metrics(labels, fixed)["ece"] < 0.02
        assert calibration_metrics(labels, said)["ece"] > 0.05
        assert np.array_equal(fixed.argmax(axis=1), said.argmax(axis=1))  # same ranking
    # Twenty perfectly separated rows would send T to 0 and every confidence to 1:
    # the prior on log T keeps it a probability.
    separated = np.tile([[0.9, 0.05, 0.05]], (20, 1))
    assert 0.1 < fit_temperature(separated, np.zeros(20, dtype=np.int64)) < 1.0
    assert fit_temperature(separated[:0], np.zeros(0, dtype=np.int64)) == 1.0


def test_the_temperature_is_the_most_probable_one_given_the_rows() -> None:
    """Validation NLL at T plus the prior on log T: nowhere on a fine grid lower."""
    rng = np.random.default_rng(2)
    said = softmax(rng.normal(0, 3, (2000, 2)))
    labels = (rng.random(2000) < said[:, 1] ** 0.5).astype(np.int64)

    def objective(log_t: float) -> float:
        answered = calibrate(said, math.exp(log_t))
        return float(-np.log(answered[np.arange(len(labels)), labels]).sum()) + log_t**2 / 2

    fitted = math.log(fit_temperature(said, labels))
    grid = np.linspace(-math.log(100.0), math.log(100.0), 4001)
    assert objective(fitted) <= min(objective(t) for t in grid) + 1e-9


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def test_calibration_and_regression_metrics_agree_with_scikit_learn() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    probabilities = rng.dirichlet([2, 2, 2], 600)
    brier = np.mean([sklearn_metrics.brier_score_loss(labels == k, probabilities[:, k])
                     for k in range(3)]) * 3  # summed over classes
    ours = calibration_metrics(labels, probabilities)
    assert ours["brier_score"] == pytest.approx(brier, abs=1e-5)
    assert calibration_metrics(np.array([0, 0, 1, 1]), np.array(
        [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])) == {"brier_score": 0.0, "ece": 0.0}
    # Always 90% sure, right half the time: off by 0.4.
    assert calibration_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.9, 0.1]]))[
        "ece"] == pytest.approx(0.4)
    truth, predicted = rng.normal(50, 10, 300), rng.normal(50, 10, 300)
    ours = regression_metrics(truth, predicted)
    assert ours["r2"] == pytest.approx(sklearn_metrics.r2_score(truth, predicted), abs=1e-5)
    assert ours["mae"] == pytest.approx(sklearn_metrics.mean_absolute_error(truth, predicted),
                                        abs=1e-5)
    assert ours["rmse"] == pytest.approx(
        math.sqrt(sklearn_metrics.mean_squared_error(truth, predicted)), abs=1e-5)


def test_a_regressor_is_evaluated_in_the_labels_units() -> None:
    table = pa.table({"x": [1.0, 2.0, 3.0, 4.0], "price": [100.0, 200.0, 300.0, 400.0]})
    pre = fit_preprocessor(table_stats(table), label="price", features=["x"],
                           family="tabular-regressor")
    labels = pre.labels(table)
    assert labels.dtype == np.float32 and abs(float(labels.mean())) < 1e-6
    evaluation = evaluate(pre, labels, np.array([110.0, 190.0, 300.0, 400.0]))
    assert evaluation.metrics["mae"] == pytest.approx(5.0)
    assert evaluation.metrics["rmse"] == pytest.approx(math.sqrt(50.0))
    assert evaluation.loss == pytest.approx(50.0 / pre.target_std**2)
    assert pre.decide(np.array([123.4567891])) == [{"price": 123.456789}]


def test_a_regressor_needs_a_numeric_label_and_a_classifier_points_to_it() -> None:
    with pytest.raises(ValueError, match="this family regresses"):
        fit_preprocessor(table_stats(pa.table({"x": [1.0, 2.0], "y": ["a", "b"]})),
                         label="y", features=["x"], family="tabular-regressor")
    with pytest.raises(ValueError, match="tabular-regressor predicts numbers"):
        fit_preprocessor(table_stats(pa.table({"x": [1, 2, 3], "y": [0.5, 1.7, 2.2]})),
                         label="y", features=["x"])


def _fitting(table: pa.Table, label: str, *, family: str = "tabular-classifier",
             epochs: int = 30, patience: int = 3) -> tuple[Fitting, int]:
    """Fits every candidate on ``table`` (a fifth held out); the fitting and the
    number of epochs it ran."""
    train = split_rows(table, fraction=0.2, validation=False)
    valid = split_rows(table, fraction=0.2, validation=True)
    pre = fit_preprocessor(table_stats(train), label=label, family=family,
                           features=[c for c in table.column_names if c != label])
    fitting = Fitting(pre, learning_rate=1e-2, seed=0, patience=patience, batch_size=1024,
                      device=torch.device("cpu"))
    data, held = to_tensors(pre, [train]), to_tensors(pre, [valid])
    ran = 0
    while ran < epochs and not fitting.done:
        fitting.epoch(ran, data, held)
        ran += 1
    return fitting, ran


def test_a_linear_signal_keeps_the_linear_model_a_ring_the_mlp() -> None:
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(0, 1, 800), rng.normal(0, 1, 800)
    linear, ran = _fitting(pa.table({"x1": x1, "x2": x2, "y": 3 * x1 - 2 * x2
                                     + rng.normal(0, 0.1, 800)}), "y",
                           family="tabular-regressor")
    outcome = linear.outcome()
    assert ran < 30  # stopped early: the ceiling is not reached
    assert outcome.architecture == "linear" and outcome.metrics["linear_chosen"] == 1.0
    assert outcome.metrics["r2"] > 0.99 and outcome.metrics["mlp_chosen"] == 0.0
    ring = np.hypot(x1, x2) < 1.2  # no line separates the inside of a circle
    nonlinear, _ = _fitting(pa.table({"x1": x1, "x2": x2, "inside": ring}), "inside")
    outcome = nonlinear.outcome()
    assert outcome.architecture == "mlp" and outcome.metrics["accuracy"] > 0.9
    assert outcome.metrics["mlp_validation_loss"] < outcome.metrics["linear_validation_loss"]
    assert {"brier_score", "ece", "f1_score", "best_epoch"} <= set(outcome.metrics)


def test_a_fitting_resumed_from_its_state_carries_on_as_if_never_stopped() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (300, 3))
    table = pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                      "y": (x[:, 0] + x[:, 1] ** 2 > 1).astype(np.int64)})
    train = split_rows(table, fraction=0.2, validation=False)
    valid = split_rows(table, fraction=0.2, validation=True)
    pre = fit_preprocessor(table_stats(train), label="y", features=["a", "b", "c"])
    data, held = to_tensors(pre, [train]), to_tensors(pre, [valid])

    def fitting(preprocessor: TabularPreprocessor) -> Fitting:
        return Fitting(preprocessor, learning_rate=1e-2, seed=3, patience=50,
                       batch_size=1024, device=torch.device("cpu"))

    whole = fitting(pre)
    reports = [whole.epoch(epoch, data, held) for epoch in range(4)]
    first = fitting(pre)
    for epoch in range(2):
        first.epoch(epoch, data, held)
    resumed = fitting(pre)
    resumed.load_state_dict(first.state_dict())
    assert [resumed.epoch(epoch, data, held) for epoch in (2, 3)] == reports[2:]


def test_three_classes_are_learnt_and_answered_with_each_probability() -> None:
    from pulse_ray.models.artifacts import TrainedModel
    from pulse_ray.models.tabular import TabularNet

    rng = np.random.default_rng(2)
    kind = rng.integers(0, 3, 900)
    centres = np.array([[0.0, 3.0], [3.0, 0.0], [-3.0, -3.0]])[kind]
    points = centres + rng.normal(0, 1, (900, 2))
    table = pa.table({"a": points[:, 0], "b": points[:, 1],
                      "kind": np.array(["setosa", "versicolor", "virginica"])[kind]})
    fitting, _ = _fitting(table, "kind")
    outcome = fitting.outcome()
    assert outcome.metrics["f1_score"] > 0.9 and outcome.metrics["accuracy"] > 0.9
    pre = fitting.preprocessor
    net = TabularNet.for_preprocessor(pre, outcome.architecture)
    net.load_state_dict(outcome.weights)
    (answer,) = TrainedModel(net=net.eval(), preprocessor=pre).predict([{"a": -3.0, "b": -3.0}])
    assert answer["kind"] == "virginica"
    assert set(answer["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert answer["confidence"] == max(answer["probabilities"].values())


def test_a_rare_class_is_decided_by_probability_times_its_weight() -> None:
    counts = {"common": 90, "middle": 30, "rare": 10}
    table = pa.table({"x": np.arange(130.0),
                      "kind": [k for k, n in counts.items() for _ in range(n)]})
    pre = fit_preprocessor(table_stats(table), label="kind", features=["x"])
    assert pre.decision_weights == pre.class_weights
    assert pre.decision_weights[2] > pre.decision_weights[1] > pre.decision_weights[0]
    probabilities = np.array([[0.5, 0.2, 0.3], [0.8, 0.1, 0.1]])
    assert pre.decided(probabilities).tolist() == [2, 0]  # 0.3 × 2.08 beats 0.5 × 0.69
    (answer, _) = pre.decide(probabilities)
    assert answer["kind"] == "rare" and answer["confidence"] == 0.3  # still its probability
    labels = np.array([2, 0])
    assert evaluate(pre, labels, probabilities).metrics["accuracy"] == 1.0
    # Artifacts from before decision weights decide by probability alone.
    older = TabularPreprocessor.from_dict({k: v for k, v in pre.to_dict().items()
                                           if k != "decision_weights"})
    assert older.decided(probabilities).tolist() == [0, 0]
    binary = fit_preprocessor(table_stats(pa.table({"x": [1.0, 2.0, 3.0],
                                                    "y": [True, False, False]})),
                              label="y", features=["x"])
    assert binary.decision_weights == []  # a binary model decides at its threshold
