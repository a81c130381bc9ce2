"""The drift rules: PSI, the snapshot's bins, a window's end, when an alert is due."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from pulse_ray.drift import (
    FLOOR,
    FeatureDrift,
    FeatureReference,
    Thresholds,
    categorical_reference,
    crossed,
    feature_drift,
    level,
    numeric_reference,
    psi,
    window_size,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LIMITS = Thresholds(watch=0.1, alert=0.25)


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0
    small, large = psi([0.5, 0.5], [0.45, 0.55]), psi([0.5, 0.5], [0.1, 0.9])
    assert 0 < small < large
    assert large == pytest.approx(0.4 * math.log(5) + 0.4 * math.log(1.8))


def test_an_empty_bin_is_floored_so_psi_stays_finite() -> None:
    value = psi([1.0, 0.0], [0.5, 0.5])
    assert math.isfinite(value)
    assert value == pytest.approx(-0.5 * math.log(0.5) + (0.5 - FLOOR) * math.log(0.5 / FLOOR))
    with pytest.raises(ValueError):
        psi([1.0], [0.5, 0.5])


def test_numeric_bins_are_the_snapshots_quantiles_with_a_bin_for_missing() -> None:
    reference = numeric_reference([*range(100), None, None], bins=4)
    assert reference.edges == (24, 49, 74)
    assert sum(reference.shares) == pytest.approx(1)
    assert reference.shares[-1] == pytest.approx(2 / 102)  # missing
    assert numeric_reference([1, 1, 1, 2], bins=10).edges == (1.0,)  # repeats collapse
    assert FeatureReference.from_json(reference.to_json()) == reference


def test_a_shifted_numeric_feature_drifts_and_a_resample_does_not() -> None:
    rng = np.random.default_rng(0)
    reference = numeric_reference(rng.lognormal(3.6, 0.6, 5000).tolist())
    same = feature_drift(reference, rng.lognormal(3.6, 0.6, 1000).tolist(), LIMITS)
    shifted = feature_drift(reference, (rng.lognormal(3.6, 0.6, 1000) * 3).tolist(), LIMITS)
    assert same.level == "ok" and same.psi < 0.1
    assert shifted.level == "drift" and shifted.psi > 1
    missing = feature_drift(reference, [None] * 500 + rng.lognormal(3.6, 0.6, 500).tolist(),
                            LIMITS)
    assert missing.level == "drift"  # half the inputs missing is drift too


def test_categorical_drift_counts_the_unseen_values() -> None:
    reference = categorical_reference(["a"] * 60 + ["b"] * 40)
    assert reference.categories == ("a", "b") and reference.shares == (0.6, 0.4, 0.0)
    same = feature_drift(reference, ["a"] * 58 + ["b"] * 42, LIMITS)
    assert same.level == "ok" and same.unseen_share == 0
    new = feature_drift(reference, ["a"] * 45 + ["b"] * 30 + ["crypto"] * 25, LIMITS)
    assert new.unseen_share == 0.25 and new.level == "drift"
    assert categorical_reference([True, False, None]).categories == ("false", "true")


def test_levels_follow_the_thresholds() -> None:
    assert [level(v, LIMITS) for v in (0.0, 0.1, 0.2, 0.25, 3)] == [
        "ok", "watch", "watch", "drift", "drift"]


def _times(*seconds: float) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in seconds]


def test_a_window_ends_at_its_nth_inference_or_its_age_whichever_first() -> None:
    hour = timedelta(hours=1)
    many = _times(*range(12))
    assert window_size(many, now=T0, max_rows=10, max_age=hour) == 10
    assert window_size(_times(0, 1, 2), now=T0 + timedelta(minutes=5), max_rows=10,
                       max_age=hour) is None  # still open
    assert window_size(_times(0, 1, 2), now=T0 + hour, max_rows=10, max_age=hour) == 3
    # A later inference past the hour shows it ended, whatever the clock says.
    assert window_size(_times(0, 1, 3600, 3601), now=T0, max_rows=10, max_age=hour) == 2
    assert window_size([], now=T0 + hour, max_rows=10, max_age=hour) is None


def test_an_alert_is_due_once_per_crossing() -> None:
    drift, ok = FeatureDrift(psi=0.3, level="drift"), FeatureDrift(psi=0.01, level="ok")
    assert crossed(None, {"a": drift, "b": ok}) == ["a"]
    assert crossed({"a": drift, "b": ok}, {"a": drift, "b": drift}) == ["b"]
    assert crossed({"a": drift}, {"a": drift}) == []
