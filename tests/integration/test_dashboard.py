"""The dashboard through Ray Serve, in Debian's headless Chromium: sign in, take a
snapshot (Ray Data), follow a real training run's epoch chart while it runs (Ray
Train), deploy and roll back — over two ingress replicas, so the session and its CSRF
token hold on whichever replica answers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from deployments.service import RunningService
from pulse_ray.demo.transactions import load, transactions
from tests.browser import CHROMIUM, Tab, browser_session
from tests.seed_bodies import FRAUD_CONSTRAINTS

from .conftest import MakeKey, bearer, train, wait_for_run

MODEL = "browser-fraud"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="needs Debian's chromium (.ci/run installs it)")


def test_snapshot_train_watch_deploy_and_roll_back(service: RunningService, make_key: MakeKey,
                                                   tmp_path: Path) -> None:
    admin = make_key("admin", name="ops", plan="pro")["key"]
    path = tmp_path / "browser-tx.db"
    load(transactions(4000, seed=5), str(path))
    with httpx.Client(base_url=service.url, headers=bearer(admin), timeout=60) as http:
        http.post("/v1/datasources", json={"name": "browser-tx", "type": "sqlite",
                                           "path": str(path), "table": "transactions"})
        http.post("/v1/models", json={"name": MODEL, "label_column": "is_fraud",
                                      "constraints": FRAUD_CONSTRAINTS})
        with browser_session() as browser:
            tab = Tab(browser, service.url)
            tab.sign_in(admin)
            page = tab.go("/dashboard/datasources")
            page.locator("#ds-browser-tx").get_by_role("button", name="Take snapshot").click()
            snapshot = page.locator("#snapshots tbody tr").first.locator("a").inner_text()
            assert snapshot.startswith("snap_")

            run_id = train(http, MODEL, snapshot, epochs=3)
            page = tab.go(f"/dashboard/runs/{run_id}")
            seen = {page.locator("#run-status").inner_text()}
            # The page is never reloaded: htmx swaps the live part in every 2 s.
            page.locator("#run-status.succeeded").wait_for(timeout=240_000)
            seen.add("succeeded")
            assert seen & {"queued", "running"}, seen  # it was watched while it ran
            assert page.locator("svg.chart polyline").count() >= 1
            tab.shot("integration-run")
            first = http.get(f"/v1/train/{run_id}").json()["version"]

            second = wait_for_run(http, train(http, MODEL, snapshot, epochs=1,
                                              deploy="never", seed=1))["version"]
            page = tab.go(f"/dashboard/models/{MODEL}")
            assert page.locator("#deployed").inner_text() == first
            page.click(f"button[data-version='{second}']")
            assert page.locator("#deployed").inner_text() == second
            page.get_by_role("button", name="Roll back to the previous version").click()
            assert page.locator("#deployed").inner_text() == first
            tab.shot("integration-model")
            assert tab.csp_violations() == []
        assert http.get(f"/v1/models/{MODEL}").json()["deployed_version"] == first
