"""A run fitted in one process (the coordinator's small runs): the epochs it reports,
the model it keeps, a stop between epochs, and a restart resuming from the last
epoch's checkpoint."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pulse_ray.demo.transactions import transactions
from pulse_ray.runtime.train_direct import Cancelled, fit_in_process
from pulse_ray.schemas.training import TrainOptions
from pulse_ray.services.training import RunSpec

FEATURES = ("transaction_amount", "merchant_category", "country", "hour")


@pytest.fixture
def spec(tmp_path: Path) -> RunSpec:
    snapshot = tmp_path / "snap_1"
    snapshot.mkdir()
    pq.write_table(transactions(2000, seed=3), snapshot / "part-0.parquet")
    return RunSpec(run_id="run_1", account="a", model="fraud-detector", label="is_fraud",
                   features=FEATURES, constraints={}, snapshot_id="snap_1",
                   snapshot_uri=str(snapshot), worker_cpus=1, data_cpus=0.25, rows=2000,
                   options=TrainOptions(epochs=4, patience=4, batch_size=256))


def test_a_run_reports_every_epoch_and_keeps_a_model(spec: RunSpec, tmp_path: Path) -> None:
    epochs: list[dict[str, float]] = []
    trained, metrics = fit_in_process(spec, checkpoint_uri=str(tmp_path / "ckpt" / "state.pt"),
                                      on_epoch=epochs.append, stopped=lambda: False)
    assert [e["epoch"] for e in epochs] == [0, 1, 2, 3]
    assert 0 <= metrics["f1_score"] <= 1 and metrics["linear_chosen"] + metrics["mlp_chosen"] == 1
    assert set(trained.input_schema.fields) == set(FEATURES)
    answer = trained.predict([{"transaction_amount": 80.0, "merchant_category": "grocery"}])
    assert set(answer[0]) >= {"is_fraud"}


def test_a_stopped_run_resumes_from_its_last_epoch(spec: RunSpec, tmp_path: Path) -> None:
    checkpoint = str(tmp_path / "ckpt" / "state.pt")
    first: list[dict[str, float]] = []
    with pytest.raises(Cancelled):
        fit_in_process(spec, checkpoint_uri=checkpoint, on_epoch=first.append,
                       stopped=lambda: len(first) == 2)
    then: list[dict[str, float]] = []
    _, resumed = fit_in_process(spec, checkpoint_uri=checkpoint, on_epoch=then.append,
                                stopped=lambda: False)
    assert [e["epoch"] for e in first] == [0, 1] and [e["epoch"] for e in then] == [2, 3]
    uninterrupted: list[dict[str, float]] = []
    _, straight = fit_in_process(spec, checkpoint_uri=str(tmp_path / "other" / "state.pt"),
                                 on_epoch=uninterrupted.append, stopped=lambda: False)
    assert uninterrupted[2:] == then  # the same epochs as a run never stopped
    assert resumed == straight
