"""A short, bounded locust run of loadtests/locustfile.py, headless, as documented."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.service import RunningService

from .conftest import MakeKey, demo_snapshot, train, wait_for_run

# Past the default per-test limit: the first test that asks for the session's demo
# shop sets it up and trains its persona model.
pytestmark = pytest.mark.timeout(900)

LOCUSTFILE = Path(__file__).parents[2] / "loadtests" / "locustfile.py"
# Its own names: other modules of the session train their own fraud-detector.
FRAUD, DATASOURCE = "fraud-locust", "locust-tx"


@pytest.fixture(scope="module")
def fraud_detector(service: RunningService, shop: dict[str, Any],
                   tmp_path_factory: pytest.TempPathFactory) -> None:
    """A fraud model trained on a datasource of its own (the locustfile's training
    trigger trains on that datasource's latest snapshot)."""
    headers = shop["headers"]
    snapshot = demo_snapshot(service, headers, tmp_path_factory.mktemp("locust"),
                             datasource=DATASOURCE, model=FRAUD,
                             rows=3000, seed=8)
    with httpx.Client(base_url=service.url, headers=headers, timeout=60) as http:
        run = wait_for_run(http, train(http, FRAUD, snapshot, epochs=1))
    assert run["status"] == "succeeded", run["error"]


def test_a_bounded_run_reports_no_unexpected_failures(
        service: RunningService, shop: dict[str, Any], fraud_detector: None,
        make_key_module: MakeKey, tmp_path: Path) -> None:
    free = make_key_module("read", plan="free")["key"]
    env = {**os.environ, "PULSE_API_KEY": shop["headers"]["Authorization"].split()[1],
           "PULSE_FREE_API_KEY": free, "PULSE_LOCUST_FRAUD_MODEL": FRAUD,
           "PULSE_LOCUST_DATASOURCE": DATASOURCE}
    locust = str(Path(sys.executable).with_name("locust"))
    result = subprocess.run(
        [locust, "-f", str(LOCUSTFILE), "--headless", "-u", "4", "-r", "4", "-t", "20s",
         "--host", service.url, "--csv", str(tmp_path / "run"), "--only-summary"],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run_stats.csv", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    assert all(int(row["Failure Count"]) == 0 for row in rows.values()), rows
    for name in ("/v1/infer", "/v1/infer/[fraud model]", "/v1/products/tag",
                 "/v1/lineage/[id]", "/v1/train/[fraud model]"):
        assert int(rows[name]["Request Count"]) > 0, name
    # The free key asks for more than 60/min: its 429s are counted apart, not failed.
    assert int(rows["/v1/infer/[fraud model] [429 expected]"]["Request Count"]) > 0
