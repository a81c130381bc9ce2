"""Drift, the rules: how far a window of live inputs has moved from a version's training
snapshot, feature by feature, as the Population Stability Index
``PSI = Σ (live − ref) · ln(live / ref)`` over bins fixed from the snapshot.

Numbers are binned at the snapshot's quantiles (so each bin holds about the same share
of training rows and no range of values is judged on a handful of them); text and
booleans by category, with one more bin for values training never saw (its share is
reported: a new merchant category is drift even when the known ones keep their mix).
Missing values are a bin of their own in both. An empty bin on either side is floored
at :data:`FLOOR`, as is usual, so the index stays finite.

A window ends after ``max_rows`` inferences or ``max_age`` after its first, whichever
comes first (:func:`window_size`); one with fewer than ``min_rows`` is recorded but
never judged. Nothing here reads a clock or a store.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np

__all__ = ["FLOOR", "FeatureDrift", "FeatureReference", "Level", "Thresholds",
           "categorical_reference", "crossed", "feature_drift", "level", "numeric_reference",
           "psi", "window_size"]

FLOOR = 1e-4  # the share an empty bin counts as
MISSING = "__missing__"
UNSEEN = "__unseen__"
Level = Literal["ok", "watch", "drift"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    watch: float
    alert: float


@dataclass(frozen=True, slots=True)
class FeatureReference:
    """One feature of a training snapshot: its bins and the share of rows in each.

    Numeric: ``edges`` e1 < … < ek cut the line into k+1 bins ``(-inf, e1], …,
    (ek, inf)``; categorical: one bin per category. Either way ``shares`` ends with the
    share of missing values.
    """

    kind: Literal["numeric", "categorical"]
    shares: tuple[float, ...]
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "shares": list(self.shares), "edges": list(self.edges),
                "categories": list(self.categories)}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> FeatureReference:
        return FeatureReference(kind=data["kind"], shares=tuple(data["shares"]),
                                edges=tuple(data.get("edges", ())),
                                categories=tuple(data.get("categories", ())))


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    psi: float
    level: Level
    unseen_share: float | None = None  # categorical: live values training never saw

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"psi": round(self.psi, 6), "level": self.level}
        if self.unseen_share is not None:
            out["unseen_share"] = round(self.unseen_share, 6)
        return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _shares(counts: Sequence[int]) -> tuple[float, ...]:
    total = sum(counts)
    return tuple(c / total for c in counts) if total else tuple(0.0 for _ in counts)


def numeric_reference(values: Iterable[Any], *, bins: int = 10) -> FeatureReference:
    """The quantile bins of a numeric training column (repeated quantiles collapse, so
    a column of few values gets fewer bins)."""
    raw = list(values)
    present = np.array([float(v) for v in raw if not _missing(v)], dtype=np.float64)
    edges: tuple[float, ...] = ()
    if present.size:
        # Edges are values the snapshot holds ("lower"), not points between them, so a
        # column of a few whole numbers gets a bin per value rather than empty slivers.
        inner = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1], method="lower")
        edges = tuple(float(e) for e in np.unique(inner))
    counts = _numeric_counts(edges, present)
    return FeatureReference(kind="numeric", edges=edges,
                            shares=_shares([*counts, len(raw) - int(present.size)]))


def _numeric_counts(edges: Sequence[float], present: np.ndarray) -> list[int]:
    # side="left": a value equal to an edge falls in the bin that edge closes.
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), present, side="left")
    return [int(c) for c in np.bincount(index, minlength=len(edges) + 1)]


def categorical_reference(values: Iterable[Any]) -> FeatureReference:
    """The categories of a text or boolean training column and their shares."""
    counts = Counter(_category(v) for v in values)
    missing = counts.pop(MISSING, 0)
    categories = tuple(sorted(counts))
    return FeatureReference(kind="categorical", categories=categories,
                            shares=_shares([*(counts[c] for c in categories), missing]))


def _category(value: Any) -> str:
    if _missing(value):
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def psi(reference: Sequence[float], live: Sequence[float]) -> float:
    """The Population Stability Index of ``live`` shares against ``reference`` shares
    (bin by bin; each floored at :data:`FLOOR`)."""
    if len(reference) != len(live):
        raise ValueError("reference and live shares have different bins")
    total = 0.0
    for expected, actual in zip(reference, live, strict=True):
        e, a = max(expected, FLOOR), max(actual, FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def level(value: float, thresholds: Thresholds) -> Level:
    if value >= thresholds.alert:
        return "drift"
    return "watch" if value >= thresholds.watch else "ok"


def feature_drift(reference: FeatureReference, values: Sequence[Any],
                  thresholds: Thresholds) -> FeatureDrift:
    """How far ``values`` (one feature of a window's inputs) moved from ``reference``."""
    missing = sum(1 for v in values if _missing(v))
    if reference.kind == "numeric":
        present = np.array([float(v) for v in values if not _missing(v)], dtype=np.float64)
        counts = _numeric_counts(reference.edges, present)
        value = psi(reference.shares, _shares([*counts, missing]))
        return FeatureDrift(psi=value, level=level(value, thresholds))
    seen = Counter(_category(v) for v in values if not _missing(v))
    known = [seen.pop(c, 0) for c in reference.categories]
    unseen = sum(seen.values())
    # Training had no unseen values: its share there is 0 (floored), the live one's is
    # what it is — so a flood of new categories shows however the known ones move.
    value = psi([*reference.shares, 0.0], _shares([*known, missing, unseen]))
    return FeatureDrift(psi=value, level=level(value, thresholds),
                        unseen_share=unseen / len(values) if values else 0.0)


def window_size(times: Sequence[datetime], *, now: datetime, max_rows: int,
                max_age: timedelta) -> int | None:
    """How many of the inferences made at ``times`` (sorted, the first of them opens
    the window) the window holds once it has ended; None while it is still open.

    It ends at its ``max_rows``-th inference, or ``max_age`` after its first —
    whichever comes first; an ended window holds what came before its end.
    """
    if not times:
        return None
    deadline = times[0] + max_age
    within = sum(1 for t in times[:max_rows] if t < deadline)
    if within >= max_rows:
        return max_rows
    if now >= deadline or within < min(len(times), max_rows):
        return within
    return None


def crossed(previous: Mapping[str, FeatureDrift] | None,
            current: Mapping[str, FeatureDrift]) -> list[str]:
    """The features at ``drift`` now that were not in the last judged window (all that
    are, when there was none): an alert is sent once per crossing, not every window."""
    return sorted(name for name, d in current.items() if d.level == "drift"
                  and (previous is None or name not in previous
                       or previous[name].level != "drift"))
