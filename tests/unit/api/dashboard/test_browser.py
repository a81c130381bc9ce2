"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright,
against the app served by uvicorn in this process over a temporary store seeded
through the API (nothing here needs Ray: training jobs are recorded, predictions run
in-process). Each page visited leaves a screenshot in tests/artifacts/dashboard/."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright import sync_api

from pulse_ray.api import AppState
from pulse_ray.auth import Scope
from pulse_ray.services.training import RunStates
from tests.browser import CHROMIUM, Tab, browser_session
from tests.seed_bodies import FRAUD_INPUT

from ..conftest import FailingFor, MakeKey, bearer, record_shop_inferences, register_untrained

MODEL = "fraud-detector"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="needs Debian's chromium (.ci/run installs it)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live(app: FastAPI, client: TestClient) -> Iterator[str]:
    """The app on a real port (uvicorn in a thread), as a browser reaches it; its
    lifespan (the replica's background work) is the test client's, started once."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with browser_session() as browser:
        yield browser


@pytest.fixture
def tab(browser: sync_api.Browser, live: str) -> Iterator[Tab]:
    tab = Tab(browser, live)
    yield tab
    tab.context.close()


@pytest.fixture
def admin(make_key: MakeKey) -> str:
    return make_key(Scope.ADMIN, plan="pro", name="ops")


@pytest.fixture
def seeded(client: TestClient, admin: str, snapshot_id: str, state: AppState,
           demo_table: pa.Table) -> str:
    """Two versions of fraud-detector, the first deployed and serving; an inference id."""
    headers = bearer(admin)
    for version in ("1.0.0-000001", "1.1.0-000002"):
        register_untrained(client, headers, state, model=MODEL, snapshot_id=snapshot_id,
                           table=demo_table, version=version)
    client.post(f"/v1/models/{MODEL}/versions/1.0.0-000001/deploy", headers=headers)
    ids = [client.post(f"/v1/infer/{MODEL}", headers=headers,
                       json={"input": {**FRAUD_INPUT, "transaction_amount": 10.0 + i}}).json()["id"]
           for i in range(20)]
    return str(ids[-1])


def test_sign_in_deploy_roll_back_and_follow_lineage(tab: Tab, admin: str, seeded: str) -> None:
    tab.sign_in(admin)
    page = tab.page
    assert page.get_by_role("link", name=MODEL).first.is_visible()
    tab.shot("overview")
    page.get_by_role("link", name=MODEL).first.click()
    assert page.locator("#deployed").inner_text() == "1.0.0-000001"
    page.click("button[data-version='1.1.0-000002']")
    assert page.locator("#deployed").inner_text() == "1.1.0-000002"
    page.get_by_role("button", name="Roll back to the previous version").click()
    assert page.locator("#deployed").inner_text() == "1.0.0-000001"
    assert page.locator("#history tbody tr").count() == 3  # deploy, deploy, rollback
    tab.shot("model")

    tab.go("/dashboard/lineage")
    page.fill("input[name=id]", seeded)
    page.click("form.search button")
    assert page.locator("#node-inference").is_visible()
    tab.shot("lineage")
    page.locator("#node-snapshot a").click()  # the snapshot's own lineage
    assert page.locator("#node-datasource").is_visible()
    page.locator("#node-datasource a").click()
    assert "/dashboard/datasources" in page.url and page.locator("#ds-tx").is_visible()
    tab.shot("datasources")
    assert tab.csp_violations() == []


def test_create_a_key_and_see_its_secret_once(tab: Tab, admin: str, live: str) -> None:
    tab.sign_in(admin)
    page = tab.go("/dashboard/keys")
    page.fill("#key-name", "ci-bot")
    page.click("form[action$='/dashboard/keys'] button[type=submit]")
    secret = page.locator("#new-secret").inner_text()
    assert secret.startswith("pulse_sk_")
    tab.shot("keys-created")
    assert httpx.get(f"{live}/v1/auth/whoami", headers=bearer(secret)).json()["name"] == "ci-bot"
    page.reload()  # a refresh repeats no form post: no second key, no secret
    assert page.locator("#new-secret").count() == 0 and secret not in page.content()
    assert page.locator("#keys").get_by_text("ci-bot").count() == 1
    tab.shot("keys-refreshed")
    page = tab.go("/dashboard/keys")  # back on the list: the secret is gone
    assert page.locator("#new-secret").count() == 0 and secret not in page.content()
    assert page.locator("#keys").get_by_text("ci-bot").is_visible()


def test_a_form_without_its_csrf_token_is_refused(tab: Tab, admin: str) -> None:
    tab.sign_in(admin)
    page = tab.go("/dashboard/keys")
    page.fill("#key-name", "forged")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]')"
                  ".forEach(e => e.remove())")
    page.click("form[action$='/dashboard/keys'] button[type=submit]")
    assert "CSRF token" in page.content() and "Not allowed" in page.title()
    tab.shot("csrf-refused")
    page = tab.go("/dashboard/keys")
    assert page.locator("#keys").get_by_text("forged").count() == 0


def test_another_accounts_model_is_the_not_found_page(tab: Tab, admin: str, seeded: str,
                                                      make_key: MakeKey) -> None:
    tab.sign_in(make_key(Scope.ADMIN, account="intruder"))
    response = tab.page.goto(f"{tab.base}/dashboard/models/{MODEL}")
    assert response is not None and response.status == 404
    assert tab.page.title().startswith("Not found")
    tab.shot("not-found")


def test_the_run_page_follows_a_live_run(tab: Tab, admin: str, client: TestClient,
                                         snapshot_id: str, state: AppState) -> None:
    run_id = client.post(f"/v1/train/{MODEL}", headers=bearer(admin),
                         json={"snapshot": snapshot_id}).json()["id"]
    states = RunStates(clock=state.clock, artifact_uri=state.settings.artifact_uri)
    with state.database.session() as session:
        states.started(session=session, run_id=run_id)  # what the job does first
    tab.sign_in(admin)
    page = tab.go(f"/dashboard/runs/{run_id}")
    assert page.locator("#run-status").inner_text() == "running"
    for epoch in range(1, 4):  # the job reports epochs while the page is open
        with state.database.session() as session:
            states.epoch(session=session, run_id=run_id,
                         metrics={"epoch": epoch, "loss": 1 / epoch, "f1_score": 0.2 * epoch,
                                  "reported_at": time.time()})
    page.wait_for_selector("svg.chart polyline", timeout=10_000)  # htmx swapped it in
    page.get_by_text("Epochs 3").wait_for(timeout=10_000)
    # One chart per metric, each on its own scale; the epoch's number and time are not.
    assert [chart.get_attribute("aria-label") for chart in page.locator("svg.chart").all()
            ] == ["f1_score per epoch", "loss per epoch"]
    tab.shot("run-live")
    page.get_by_role("button", name="Cancel run").click()
    assert page.locator("#run-status").inner_text() == "cancelled"
    assert tab.csp_violations() == []


def test_approve_a_device_login_and_use_the_new_key(tab: Tab, admin: str, live: str,
                                                    tmp_path: Path) -> None:
    tab.sign_in(admin)
    env = {**os.environ, "PULSE_CONFIG_DIR": str(tmp_path / "cli"), "COLUMNS": "200",
           "NO_COLOR": "1", "PYTHONPATH": str(Path(__file__).parents[4])}
    cli = subprocess.Popen(
        [sys.executable, "-c", "from pulse_ray.cli import main; main()", "auth", "login",
         "--base-url", live, "--name", "my laptop", "--scope", "read"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert cli.stdout is not None
        first = cli.stdout.readline()
        code = re.search(r"code: ([A-Z]{4}-[A-Z]{4})", first)
        assert code, first
        url = re.search(r"open (\S+/dashboard/device)", cli.stdout.readline())
        assert url
        page = tab.page
        page.goto(url.group(1))
        page.fill("#code", code.group(1))
        page.get_by_role("button", name="Continue").click()
        assert page.locator("#device-name").inner_text() == "my laptop"
        assert page.locator("#device-scopes").inner_text() == "read"
        tab.shot("device-approve")
        page.get_by_role("button", name="Approve").click()
        assert page.locator("#decided").is_visible()
        output = first + cli.communicate(timeout=60)[0]
    finally:
        cli.kill()
    assert cli.returncode == 0, output
    assert "Logged in as my laptop" in output
    saved = tmp_path / "cli" / "credentials.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    key = re.search(r'"api_key": "(pulse_sk_\w+)"', saved.read_text())
    assert key
    me = httpx.get(f"{live}/v1/auth/whoami", headers=bearer(key.group(1))).json()
    assert me["name"] == "my laptop" and me["scopes"] == ["read"]


def test_take_a_snapshot(tab: Tab, admin: str, client: TestClient, snapshot_id: str,
                         tmp_path: Path) -> None:
    client.post("/v1/datasources", headers=bearer(admin), json={
        "name": "tx-copy", "type": "sqlite", "path": str(tmp_path / "d.db"),
        "table": "transactions"})
    tab.sign_in(admin)
    page = tab.go("/dashboard/datasources")
    assert page.locator("#snapshots tbody tr").count() == 1
    page.locator("#ds-tx-copy").get_by_role("button", name="Take snapshot").click()
    rows = page.locator("#snapshots tbody tr")
    assert rows.count() == 2
    assert "tx-copy" in rows.first.inner_text() and "3000" in rows.first.inner_text()
    tab.shot("snapshot-taken")


def test_the_overview_shows_a_failed_prediction_in_the_error_rate(
        tab: Tab, admin: str, client: TestClient, snapshot_id: str, state: AppState,
        demo_table: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = bearer(admin)
    register_untrained(client, headers, state, model=MODEL, snapshot_id=snapshot_id,
                       table=demo_table, version="1.0.0-000001")
    client.post(f"/v1/models/{MODEL}/versions/1.0.0-000001/deploy", headers=headers)
    monkeypatch.setattr(state.inference, "predictor",
                        FailingFor(state.inference.predictor, 13.13))
    failed = client.post(f"/v1/infer/{MODEL}", headers=headers,
                         json={"input": {**FRAUD_INPUT, "transaction_amount": 13.13}})
    answered = client.post(f"/v1/infer/{MODEL}", headers=headers, json={"input": FRAUD_INPUT})
    assert (failed.status_code, answered.status_code) == (500, 200)
    tab.sign_in(admin)
    page = tab.page
    deadline = time.monotonic() + 10  # counted when the ingress's batch is written
    while "failed" not in page.locator("td.error-rate").inner_text():
        assert time.monotonic() < deadline, page.content()
        page.reload()
    assert page.locator("td.error-rate").inner_text() == "50.0% (1 failed)"
    tab.shot("overview-errors")
    assert tab.csp_violations() == []


def test_the_shop_page_shows_the_persona_mix(tab: Tab, admin: str, snapshot_id: str,
                                             state: AppState) -> None:
    tab.sign_in(admin)
    page = tab.go("/dashboard/shop")
    assert page.get_by_text("No shopper sessions yet").is_visible()
    tab.shot("shop-empty")
    record_shop_inferences(state, MODEL, [
        ("default", f"s{i}", persona)
        for i, persona in enumerate(["bargain_hunter"] * 6 + ["brand_loyalist"] * 3
                                    + ["impulse_buyer"])])
    page.reload()
    mix = page.locator("#persona-mix")
    assert mix.locator("svg.shares").is_visible()
    assert mix.locator("tbody tr").all_inner_texts() == [
        "bargain_hunter\t60.0%", "brand_loyalist\t30.0%", "impulse_buyer\t10.0%"]
    tab.shot("shop")
    assert tab.csp_violations() == []


def test_head_answers_like_get_through_a_real_server(live: str) -> None:
    head = httpx.head(f"{live}/dashboard/login")
    get = httpx.get(f"{live}/dashboard/login")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["content-security-policy"] == get.headers["content-security-policy"]
