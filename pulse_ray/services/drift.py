"""The drift watch: the controller's pass that compares each deployed version's live
inputs with its training snapshot, and the route's report of what it found.

Off the request path: inference records keep the input the version read (written in
the log's batches); each pass of :meth:`DriftWatch.tick` closes the windows that have
ended (:func:`pulse_ray.drift.window_size`), judges those with enough rows, stores
them and sends ``model.drift`` for features that crossed the drift threshold (the
inputs kept are cleared after their retention by :mod:`pulse_ray.services.retention`).
The snapshot is binned once per version, on its first look, and kept in the store
(:class:`~pulse_ray.store.tables.DriftReference`), so a restarted controller neither
re-reads it nor loses its place: the next window starts after the last stored one's
last inference.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow.dataset as ds
from sqlmodel import Session

from pulse_ray.config import Settings
from pulse_ray.drift import (
    FeatureDrift,
    FeatureReference,
    Level,
    Thresholds,
    categorical_reference,
    crossed,
    feature_drift,
    numeric_reference,
    window_size,
)
from pulse_ray.models.inputs import InputSchema
from pulse_ray.schemas.drift import DriftReport, DriftWindowPublic
from pulse_ray.services.loops import every
from pulse_ray.store import Database
from pulse_ray.store import drift as repo
from pulse_ray.store import runs as run_repo
from pulse_ray.store import webhooks as webhook_repo
from pulse_ray.store.tables import DriftWindow, Model, ModelVersion
from pulse_ray.timeutil import Clock, format_timestamp
from pulse_ray.webhooks.events import EventType

__all__ = ["DriftConfig", "DriftService", "DriftWatch", "read_snapshot"]

logger = logging.getLogger(__name__)

# Rows of a snapshot read to bin it: quantiles and category shares of this many rows
# are as good as the whole for a PSI, and a large snapshot costs the controller no more.
REFERENCE_ROWS = 200_000
_LEVELS: tuple[Level, ...] = ("ok", "watch", "drift")
# A backlog (the controller was away) is worked off this many windows a version a pass,
# so one pass's transaction stays short.
_WINDOWS_PER_PASS = 50
SnapshotReader = Callable[[str, list[str]], dict[str, list[Any]]]


def read_snapshot(uri: str, columns: list[str]) -> dict[str, list[Any]]:
    """The first :data:`REFERENCE_ROWS` rows of ``columns`` of a snapshot's Parquet."""
    dataset = ds.dataset(uri, format="parquet")
    present = [c for c in columns if c in dataset.schema.names]
    return dataset.head(REFERENCE_ROWS, columns=present).to_pydict()


@dataclass(frozen=True, slots=True)
class DriftConfig:
    thresholds: Thresholds
    max_rows: int
    max_age: timedelta
    min_rows: int

    @staticmethod
    def of(settings: Settings) -> DriftConfig:
        return DriftConfig(
            thresholds=Thresholds(watch=settings.drift_watch_psi,
                                  alert=settings.drift_alert_psi),
            max_rows=settings.drift_window_requests,
            max_age=timedelta(seconds=settings.drift_window_s),
            min_rows=settings.drift_min_rows)


def reference_of(schema: InputSchema, columns: dict[str, list[Any]]) -> dict[str, Any]:
    """Each input field's bins from the snapshot's values (fields it lacks: none)."""
    out = {}
    for name, spec in schema.fields.items():
        if name not in columns:
            continue
        values = columns[name]
        reference = (numeric_reference(values) if spec.type in ("number", "integer")
                     else categorical_reference(values))
        out[name] = reference.to_json()
    return out


class DriftWatch:
    """The controller's drift pass: one per store, like the rollout controller."""

    def __init__(self, *, database: Database, clock: Clock, config: DriftConfig,
                 interval_s: float, read: SnapshotReader = read_snapshot) -> None:
        self._database = database
        self._clock = clock
        self._config = config
        self._interval_s = interval_s
        self._read = read

    def tick(self) -> list[DriftWindow]:
        """Closes every window that has ended; those closed."""
        now = self._clock()
        with self._database.session() as session:
            pairs = [(m.id, v.id) for m, v in repo.deployed(session=session)]
        closed = []
        for model_id, version_id in pairs:
            with self._database.session() as session:
                model, version = session.get(Model, model_id), session.get(ModelVersion,
                                                                           version_id)
                if model is None or version is None or version.status != "deployed":
                    continue  # undeployed since
                try:
                    references = self._reference(session, model, version)
                except Exception:
                    logger.exception("cannot bin the snapshot of %s %s", model.name,
                                     version.version)
                    continue
                for _ in range(_WINDOWS_PER_PASS):
                    window = self._close(session, model, version, references, now)
                    if window is None:
                        break
                    closed.append(window)
        return closed

    def _reference(self, session: Session, model: Model,
                   version: ModelVersion) -> dict[str, FeatureReference]:
        row = repo.get_reference(session=session, model_id=model.id, version=version.version)
        if row is None:
            schema = InputSchema.model_validate(version.input_schema)
            snapshot = run_repo.snapshot_of(session=session, version=version)
            features = reference_of(schema, self._read(snapshot.uri, list(schema.fields)))
            row = repo.save_reference(session=session, model_id=model.id,
                                      version=version.version, snapshot_id=snapshot.id,
                                      features=features, now=self._clock())
        return {name: FeatureReference.from_json(f) for name, f in row.features.items()}

    def _close(self, session: Session, model: Model, version: ModelVersion,
               references: dict[str, FeatureReference], now: datetime) -> DriftWindow | None:
        config = self._config
        last = repo.last_window(session=session, model_id=model.id, version=version.version)
        live = repo.live_inputs(session=session, model_id=model.id, version=version.version,
                                after=last, limit=config.max_rows + 1)
        size = window_size([r.created_at for r in live], now=now, max_rows=config.max_rows,
                           max_age=config.max_age)
        if size is None:
            return None
        rows = live[:size]
        judged = size >= config.min_rows
        drifts = self._judge(references, rows) if judged else {}
        previous = repo.last_window(session=session, model_id=model.id,
                                    version=version.version, judged=True)
        window = repo.add_window(session=session, window=DriftWindow(
            account=model.account, model_id=model.id, version=version.version, rows=size,
            judged=judged, level=max((d.level for d in drifts.values()),
                                     key=_LEVELS.index, default="ok") if judged else None,
            features={n: d.to_json() for n, d in drifts.items()} if judged else None,
            started_at=rows[0].created_at, ended_at=rows[-1].created_at,
            last_inference_id=rows[-1].id, created_at=now))
        if judged:
            self._alert(session, model, window, drifts, previous)
        return window

    def _judge(self, references: dict[str, FeatureReference],
               rows: Sequence[repo.LiveInput]) -> dict[str, FeatureDrift]:
        return {name: feature_drift(reference, [r.inputs.get(name) for r in rows],
                                    self._config.thresholds)
                for name, reference in references.items()}

    def _alert(self, session: Session, model: Model, window: DriftWindow,
               drifts: dict[str, FeatureDrift], previous: DriftWindow | None) -> None:
        """``model.drift`` naming the features that crossed the drift threshold."""
        names = crossed({n: _drift_of(f) for n, f in (previous.features or {}).items()}
                        if previous is not None else None, drifts)
        if not names:
            return
        logger.warning("%s %s drifted: %s", model.name, window.version, ", ".join(names))
        webhook_repo.emit(session=session, account=model.account, type_=EventType.MODEL_DRIFT,
                          now=window.created_at, data={
                              "model": model.name, "version": window.version,
                              "features": [{"name": n, **drifts[n].to_json()} for n in names],
                              "window": {"started_at": format_timestamp(window.started_at),
                                         "ended_at": format_timestamp(window.ended_at),
                                         "rows": window.rows}})

    async def run(self, stopping: asyncio.Event) -> None:
        """A pass every ``interval_s`` until ``stopping`` is set."""
        await every(self._interval_s, self.tick, stopping, name="drift watch")


def _drift_of(data: dict[str, Any]) -> FeatureDrift:
    return FeatureDrift(psi=data["psi"], level=data["level"],
                        unseen_share=data.get("unseen_share"))


class DriftService:
    """What ``GET /v1/models/{model}/drift`` answers."""

    def __init__(self, *, settings: Settings) -> None:
        self._config = DriftConfig.of(settings)

    def report(self, *, session: Session, model: Model, deployed: str | None,
               limit: int) -> DriftReport:
        config = self._config
        rows = repo.windows(session=session, account=model.account, model_id=model.id,
                            limit=limit)
        return DriftReport(
            model=model.name, deployed_version=deployed,
            watch_psi=config.thresholds.watch, drift_psi=config.thresholds.alert,
            window_requests=config.max_rows, window_s=config.max_age.total_seconds(),
            min_rows=config.min_rows,
            windows=[DriftWindowPublic.model_validate(r, from_attributes=True) for r in rows])
