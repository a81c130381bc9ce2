"""The tabular families — ``tabular-classifier`` and ``tabular-regressor`` — PyTorch
networks for numeric and categorical columns, with their preprocessing learnt from the
training split. Both fit two candidates, a linear model and an MLP
(:data:`ARCHITECTURES`), and keep the better on validation (``pulse_ray.models.selection``).

Preprocessing (fit from :class:`~pulse_ray.models.stats.TableStats`, so it works on any
table, not only the demo):

* numeric columns are standardised; non-negative ones also enter as standardised
  ``log1p`` (so ratios of skewed amounts become differences the network can learn);
  missing values become the mean plus a missing flag (:meth:`TabularPreprocessor.missing_numeric`);
* text and boolean columns get a vocabulary of their most frequent values (at most
  1,000); index 0 is the bucket for unknown and missing values; each has an embedding;
* classes come from the label column; the loss does not weigh them, and the logits are
  divided by a temperature fitted on the validation split, so ``confidence`` is a
  probability (the Brier score and ECE, before and after, measure how well); class imbalance is
  handled where the decision is made: a binary model says yes from the threshold with the
  best F1 on the validation split, a multiclass one picks the class with the highest
  probability times the square root of its inverse frequency;
* a regressor's label is standardised for training and its predictions are given back
  in the label's units.

Every input may be missing at inference (training masks features at random, see
``pulse_ray.models.fitting``); which are required, and which values are impossible,
is the model's data contract's to say (:mod:`pulse_ray.models.inputs`), not the sample's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch import nn

from pulse_ray.models.families import CLASSIFIER, REGRESSOR
from pulse_ray.models.inputs import ColumnConstraint, FieldSpec, InputSchema
from pulse_ray.models.stats import TableStats

__all__ = ["ARCHITECTURES", "TabularNet", "TabularPreprocessor", "fit_preprocessor"]

# The candidates every run fits, by name: hidden layer sizes (none: a linear model).
ARCHITECTURES: dict[str, tuple[int, ...]] = {"linear": (), "mlp": (128, 64)}
_MAX_VOCABULARY = 1000
_CLIP = 1e4  # standard deviations: the furthest a number is encoded from its mean
_POSITIVE = ("true", "1", "yes", "fraud", "positive")


@dataclass
class NumericFeature:
    name: str
    integral: bool
    non_negative: bool
    mean: float
    std: float
    log_mean: float
    log_std: float


@dataclass
class CategoricalFeature:
    name: str
    boolean: bool
    vocabulary: list[str]  # index i + 1; 0 is unknown or missing

    @property
    def cardinality(self) -> int:
        return len(self.vocabulary) + 1

    @cached_property
    def _index(self) -> dict[str, int]:
        return {word: i + 1 for i, word in enumerate(self.vocabulary)}

    def index_of(self, value: Any) -> int:
        """The embedding index of one input value (0: missing or unseen), as
        :meth:`TabularPreprocessor.encode` finds it (booleans read "true"/"false")."""
        if value is None:
            return 0
        return self._index.get(str(value).lower() if isinstance(value, bool) else str(value), 0)


@dataclass
class TabularPreprocessor:
    label: str
    classes: list[str]
    class_weights: list[float]
    numeric: list[NumericFeature] = field(default_factory=list)
    categorical: list[CategoricalFeature] = field(default_factory=list)
    threshold: float = 0.5  # binary models: P(positive) at or above which to say yes
    label_kind: str = "string"  # boolean | integer | string | number: how labels are written
    family: str = CLASSIFIER
    target_mean: float = 0.0  # a regressor's label is (value - mean) / std in training
    target_std: float = 1.0
    # A multiclass decision is the arg-max of probability × weight (none: artifacts
    # from before, whose loss weighed the classes instead).
    decision_weights: list[float] = field(default_factory=list)
    # A classifier's probabilities are softmax(logits / temperature), the temperature
    # fitted on the validation split (pulse_ray.models.selection.fit_temperature).
    temperature: float = 1.0

    @property
    def regression(self) -> bool:
        return self.family == REGRESSOR

    @property
    def outputs(self) -> int:
        """The network's output width: one value, or a logit per class."""
        return 1 if self.regression else len(self.classes)

    @property
    def positive_index(self) -> int:
        """Which class a binary model calls positive ("true", "1"... or the rarer one)."""
        for index, name in enumerate(self.classes):
            if name.lower() in _POSITIVE:
                return index
        return int(np.argmax(self.class_weights))  # the rarest class weighs most

    @property
    def numeric_width(self) -> int:
        return sum(3 if f.non_negative else 2 for f in self.numeric)

    def encode(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """(numeric float32 [n, numeric_width], categorical int64 [n, n_categorical])."""
        raw = np.column_stack(
            [pc.cast(table[f.name], pa.float64()).to_numpy(zero_copy_only=False)
             for f in self.numeric]) if self.numeric else np.zeros((table.num_rows, 0))
        categorical = np.zeros((table.num_rows, len(self.categorical)), dtype=np.int64)
        for i, category in enumerate(self.categorical):
            texts = pc.cast(table[category.name], pa.string())  # booleans read "true"/"false"
            index = pc.index_in(texts, value_set=pa.array(category.vocabulary, type=pa.string()))
            categorical[:, i] = pc.add(index, 1).fill_null(0).to_numpy(zero_copy_only=False)
        return self._scale(raw), categorical

    def encode_rows(self, rows: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`encode` for validated inference inputs (dicts), without Arrow: a
        request's few rows cost microseconds this way, milliseconds through tables."""
        raw = np.array([[np.nan if row.get(f.name) is None else float(row[f.name])
                         for f in self.numeric] for row in rows],
                       dtype=np.float64).reshape(len(rows), len(self.numeric))
        categorical = np.array([[c.index_of(row.get(c.name)) for c in self.categorical]
                                for row in rows],
                               dtype=np.int64).reshape(len(rows), len(self.categorical))
        return self._scale(raw), categorical

    def missing_numeric(self) -> np.ndarray:
        """The numeric block of a row whose every numeric feature is missing (what
        training masks a feature to), float32 [numeric_width]."""
        return self._scale(np.full((1, len(self.numeric)), np.nan))[0]

    def numeric_owners(self) -> np.ndarray:
        """For each column of the numeric block, the index of the feature it encodes."""
        return np.repeat(np.arange(len(self.numeric)),
                         [3 if f.non_negative else 2 for f in self.numeric])

    def _scale(self, raw: np.ndarray) -> np.ndarray:
        """The numeric block from raw values (NaN where missing), a column per feature:
        standardised value, missing flag, and for non-negative features log1p too.
        Standardised values are clipped to ±:data:`_CLIP` standard deviations: any finite
        input is a valid one, and 1e300 must read as very large, not overflow float32."""
        # Whole blocks, not a loop over the features: a request's batch of a few rows
        # costs a dozen array operations instead of ten per feature.
        features = self.numeric
        mean = np.array([f.mean for f in features], dtype=np.float64)
        std = np.array([f.std for f in features], dtype=np.float64)
        logged = np.array([j for j, f in enumerate(features) if f.non_negative], dtype=np.int64)
        log_mean = np.array([features[j].log_mean for j in logged], dtype=np.float64)
        log_std = np.array([features[j].log_std for j in logged], dtype=np.float64)
        first = np.cumsum([0, *(3 if f.non_negative else 2 for f in features)])[:-1]
        missing = ~np.isfinite(raw)
        values = np.where(missing, mean, raw)
        numeric = np.zeros((raw.shape[0], self.numeric_width), dtype=np.float32)
        numeric[:, first] = np.clip((values - mean) / std, -_CLIP, _CLIP)
        numeric[:, first + 1] = missing
        logs = np.log1p(np.maximum(values[:, logged], 0.0))
        numeric[:, first[logged] + 2] = np.clip((logs - log_mean) / log_std, -_CLIP, _CLIP)
        return numeric

    def labels(self, table: pa.Table) -> np.ndarray:
        """What the network learns to output: a regressor's standardised label (float32;
        rows without one are an error), a classifier's class indices (int64; unknown
        labels are an error)."""
        column = table[self.label]
        if self.regression:
            values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"label column '{self.label}' has missing or non-finite "
                                 "values")
            return ((values - self.target_mean) / self.target_std).astype(np.float32)
        if pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
            column = pc.cast(column, pa.int64())  # whole-number classes, as in the stats
        texts = pc.cast(column, pa.string())
        index = pc.index_in(texts, value_set=pa.array(self.classes, type=pa.string()))
        if index.null_count:
            raise ValueError(f"label column '{self.label}' has values unseen in training")
        return index.to_numpy(zero_copy_only=False).astype(np.int64)

    def input_schema(self, contract: Mapping[str, ColumnConstraint] | None = None
                     ) -> InputSchema:
        """What inference accepts: each feature's type from training, and from the data
        ``contract`` whether it is required and its bounds (none of either without one)."""
        contract = contract or {}

        def spec(name: str, type_: str, categories: list[str] | None = None) -> FieldSpec:
            constraint = contract.get(name, ColumnConstraint())
            return FieldSpec.model_validate({
                "type": type_, "nullable": not constraint.required, "categories": categories,
                **constraint.bounds()})

        fields = {f.name: spec(f.name, "integer" if f.integral else "number")
                  for f in self.numeric}
        fields.update({
            f.name: spec(f.name, "boolean") if f.boolean
            else spec(f.name, "string", f.vocabulary[:100])
            for f in self.categorical
        })
        return InputSchema(fields=fields)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> TabularPreprocessor:
        return TabularPreprocessor(
            label=data["label"], classes=list(data["classes"]),
            class_weights=list(data["class_weights"]),
            numeric=[NumericFeature(**_known(NumericFeature, f)) for f in data["numeric"]],
            categorical=[CategoricalFeature(**_known(CategoricalFeature, f))
                         for f in data["categorical"]],
            threshold=float(data.get("threshold", 0.5)),
            label_kind=str(data.get("label_kind", "string")),
            family=str(data.get("family", CLASSIFIER)),
            target_mean=float(data.get("target_mean", 0.0)),
            target_std=float(data.get("target_std", 1.0)),
            decision_weights=list(data.get("decision_weights", [])),
            temperature=float(data.get("temperature", 1.0)),
        )

    def label_value(self, index: int) -> bool | int | str:
        """A class as the label column held it: true/false, a number or text."""
        name = self.classes[index]
        if self.label_kind == "boolean":
            return name == "true"
        if self.label_kind == "integer":
            return int(name)
        return name

    def predictions(self, outputs: torch.Tensor) -> np.ndarray:
        """The network's outputs as predictions: class probabilities [n, classes], or a
        regressor's values in the label's units [n]."""
        if self.regression:
            values = outputs[:, 0].double() * self.target_std + self.target_mean
            return values.cpu().numpy()
        return torch.softmax(outputs / self.temperature, dim=1).cpu().numpy()

    def decided(self, probabilities: np.ndarray) -> np.ndarray:
        """A multiclass model's class index for each row of ``probabilities``: the most
        probable, each class's probability weighed by its decision weight."""
        weights = np.asarray(self.decision_weights or np.ones(probabilities.shape[1]))
        return np.asarray((probabilities * weights).argmax(axis=1))

    def decide(self, predictions: np.ndarray) -> list[dict[str, Any]]:
        """Answers from :meth:`predictions`: a regressor's value under the label's name;
        a classifier's label and ``confidence`` — the positive class's probability for a
        binary model (as in the seed: is_fraud false with confidence 0.12), the chosen
        class's for a multiclass one, which also gives every class's ``probabilities``
        (what a caller mixing classes needs)."""
        if self.regression:
            return [{self.label: round(float(value), 6)} for value in predictions]
        probabilities = predictions
        outputs = []
        for row in probabilities:
            output: dict[str, Any]
            if len(self.classes) == 2:
                positive = self.positive_index
                score = float(row[positive])
                index = positive if score >= self.threshold else 1 - positive
                output = {self.label: self.label_value(index), "confidence": round(score, 6)}
            else:
                index = self.decided(row[None, :])[0]
                output = {self.label: self.label_value(index),
                          "confidence": round(float(row[index]), 6),
                          "probabilities": {str(self.label_value(i)): round(float(p), 6)
                                            for i, p in enumerate(row)}}
            outputs.append(output)
        return outputs


def _known(kind: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` without keys ``kind`` no longer has (artifacts written before an input
    became optional carry ``nullable``: they still load)."""
    names = {f.name for f in dataclass_fields(kind)}
    return {k: v for k, v in data.items() if k in names}


def _target(stats: TableStats, label: str, family: str) -> TabularPreprocessor:
    """The preprocessing of the label, by family (no features yet)."""
    label_stats = stats.columns[label]
    if family == REGRESSOR:
        if label_stats.kind != "numeric" or label_stats.count < 2:
            raise ValueError(f"label '{label}' is not a number with values to learn from: "
                             "this family regresses")
        return TabularPreprocessor(label=label, classes=[], class_weights=[], family=family,
                                   label_kind="number", target_mean=label_stats.mean,
                                   target_std=label_stats.std)
    if label_stats.kind == "numeric" and (label_stats.truncated or not label_stats.counts):
        raise ValueError(f"label '{label}' is numeric with many values: this family "
                         f"classifies ({REGRESSOR} predicts numbers)")
    classes = sorted(label_stats.counts)
    if len(classes) < 2:
        raise ValueError(f"label '{label}' has fewer than two classes in the training split")
    total = sum(label_stats.counts.values())
    weights = [math.sqrt(total / (len(classes) * label_stats.counts[c])) for c in classes]
    label_kind = {"boolean": "boolean", "numeric": "integer"}.get(label_stats.kind, "string")
    return TabularPreprocessor(label=label, classes=classes, class_weights=weights,
                               label_kind=label_kind,
                               decision_weights=weights if len(classes) > 2 else [])


def fit_preprocessor(
    stats: TableStats, *, label: str, features: Iterable[str], family: str = CLASSIFIER
) -> TabularPreprocessor:
    """Learns the preprocessing from the training split's statistics.

    Raises:
        ValueError: no usable label: for a classifier fewer than two classes, or numeric
            with many values; for a regressor not a number.
    """
    preprocessor = _target(stats, label, family)
    for name in features:
        s = stats.columns[name]
        if s.kind == "numeric":
            preprocessor.numeric.append(NumericFeature(
                name=name, integral=s.integral, non_negative=s.minimum >= 0,
                mean=s.mean, std=s.std, log_mean=s.log_mean, log_std=s.log_std))
        else:
            vocabulary = [v for v, _ in s.counts.most_common(_MAX_VOCABULARY)]
            preprocessor.categorical.append(CategoricalFeature(
                name=name, boolean=s.kind == "boolean", vocabulary=vocabulary))
    return preprocessor


class TabularNet(nn.Module):
    """Embeddings for categorical columns, concatenated with numeric ones, then an MLP
    (with no hidden layer: a linear model)."""

    def __init__(self, numeric_width: int, cardinalities: Sequence[int], classes: int,
                 hidden: Sequence[int] = ARCHITECTURES["mlp"], dropout: float = 0.1) -> None:
        super().__init__()
        dimensions = [min(16, math.ceil(1.6 * c**0.56)) for c in cardinalities]
        self.embeddings = nn.ModuleList(
            nn.Embedding(c, d) for c, d in zip(cardinalities, dimensions, strict=True)
        )
        width = numeric_width + sum(dimensions)
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, classes))
        self.mlp = nn.Sequential(*layers)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        # The rows of each embedding table by index_select, not the Embedding call: the
        # same values, but its backward is an index_add, which on the CPU took about half
        # the time of the Embedding's (a linear candidate's L-BFGS pass over the table
        # 0.087 → 0.050 s of CPU on 240,000 rows, the MLP's epoch 7% less).
        tables: list[torch.Tensor] = [e.weight for e in self.embeddings]  # type: ignore[misc]
        parts = [numeric] + [table.index_select(0, categorical[:, i])
                             for i, table in enumerate(tables)]
        return self.mlp(torch.cat(parts, dim=1))

    @staticmethod
    def for_preprocessor(preprocessor: TabularPreprocessor,
                         architecture: str = "mlp") -> TabularNet:
        """The network of one candidate (an :data:`ARCHITECTURES` name)."""
        return TabularNet(preprocessor.numeric_width,
                          [f.cardinality for f in preprocessor.categorical],
                          preprocessor.outputs, hidden=ARCHITECTURES[architecture])
