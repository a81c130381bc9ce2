"""`pulse demo shop` driving the service: its key, the snapshot, the training run and
what it prints next, against a scripted API and a store in a temporary directory.
(The data it writes needs the text model: tests/integration/test_shop.py runs it whole.)"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from pulse_ray.cli import app, demo_service
from pulse_ray.config import get_settings
from pulse_ray.credentials import load_credentials
from pulse_ray.demo.examples import write_examples
from pulse_ray.schemas.snapshots import SnapshotPublic
from tests.seed_bodies import SEED_INFER, SEED_TAG
from tests.unit.fake_pulse import MODEL, PAYLOADS, SNAPSHOT, FakeApi, envelope, page, run_detail

runner = CliRunner()
PERSONA = "shopper-persona"
LINEAGE = f"GET /v1/lineage/{PERSONA}:1.0.0-def456"


@pytest.fixture(autouse=True)
def _store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PULSE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    """The scripted API, reached with the key the SDK finds (none, unless a test sets
    PULSE_API_KEY or a login is saved), as a real `pulse` would."""
    fake = FakeApi()
    fake.install(monkeypatch)
    monkeypatch.setattr("pulse_ray.cli.service.client",
                        lambda api_key=None: fake.client(api_key))
    fake.on("GET /v1/auth/whoami", PAYLOADS["whoami"])
    return fake


def _keys() -> list[dict[str, object]]:
    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    return json.loads(listed.stdout)  # type: ignore[no-any-return]


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def test_without_a_running_service_it_says_to_start_one_before_writing_data(
    api: FakeApi, tmp_path: Path
) -> None:
    api.on("GET /v1/auth/whoami", _refuse)
    result = runner.invoke(app, ["demo", "shop"])
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "UNAVAILABLE: Cannot reach Pulse at http://pulse.test" in message
    assert "`make run`" in message and "--no-train" in message
    assert not (tmp_path / "data" / "demo.db").exists()  # failed fast: no tagging


def test_with_no_key_it_makes_one_saves_it_as_the_login_and_reuses_it(api: FakeApi) -> None:
    api.on("GET /v1/auth/whoami", _refuse)
    made = runner.invoke(app, ["demo", "shop"])
    (key,) = _keys()
    assert (key["name"], key["plan"], key["scopes"]) == ("shop-demo", "starter",
                                                         ["read", "write"])
    saved = load_credentials()
    assert saved is not None and saved.api_key in made.stdout
    assert f"made {key['id']}" in " ".join(made.stdout.split())

    again = runner.invoke(app, ["demo", "shop"])
    assert again.exit_code == 1 and saved.api_key not in again.stdout
    assert len(_keys()) == 1  # the saved login, not another key
    assert {r.headers["Authorization"] for r in api.requests} == {f"Bearer {saved.api_key}"}


def test_the_users_own_key_is_used_and_none_is_made(api: FakeApi,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_API_KEY", "pulse_sk_mine")
    client, made = demo_service.connect(account="default")
    assert made is None and client.api_key == "pulse_sk_mine"
    assert _keys() == [] and load_credentials() is None


def test_a_service_on_another_store_is_named_as_the_cause(api: FakeApi) -> None:
    api.on("GET /v1/auth/whoami", envelope("UNAUTHORIZED", "Invalid API key"), status=401)
    result = runner.invoke(app, ["demo", "shop"])
    assert result.exit_code == 1
    assert "PULSE_DATA_DIR" in " ".join(result.stderr.split())


def _trains(api: FakeApi, *, deployed: str | None) -> None:
    api.on(f"POST /v1/train/{PERSONA}", {**PAYLOADS["run"], "model": PERSONA}, status=201)
    api.on("GET /v1/train/run_1", run_detail("running", 1, total=2, model=PERSONA),
           run_detail("succeeded", 2, total=2, model=PERSONA, version="1.1.0-abc"))
    api.on(f"GET /v1/models/{PERSONA}", {**MODEL, "name": PERSONA, "deployed_version": deployed},
           {**MODEL, "name": PERSONA, "deployed_version": "1.1.0-abc"})


def test_it_snapshots_trains_with_deploy_always_and_follows_the_run(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.on("GET /v1/snapshots", page())
    api.on("POST /v1/snapshot/shop-sessions-db", SNAPSHOT, status=201)
    _trains(api, deployed=None)
    deployed = demo_service.deploy_model(api.client(), datasource="shop-sessions-db",
                                         model=PERSONA, epochs=2, poll_s=0.01)
    assert (deployed.version, deployed.run, deployed.snapshot.id) == ("1.1.0-abc", "run_1",
                                                                      "snap_1")
    assert api.bodies()[1] == {"snapshot": "snap_1",
                               "options": {"deploy": "always", "epochs": 2}}
    out, err = capsys.readouterr()
    assert "Snapshotted snap_1: 2,000 sessions, sha256:abc." in out
    assert "epoch 1/2" in err and "epoch 2/2" in err and err.count("epoch 1/2") == 1
    assert "version 1.1.0-abc" in out


def test_a_second_run_reuses_the_snapshot_and_the_model_trained_on_it(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.on("GET /v1/snapshots", page(SNAPSHOT))
    api.on("POST /v1/snapshot/shop-sessions-db", SNAPSHOT)  # 200: unchanged
    api.on(f"GET /v1/models/{PERSONA}", {**MODEL, "name": PERSONA})
    api.on(LINEAGE, {**PAYLOADS["lineage"], "id": f"{PERSONA}:1.0.0-def456",
                     "type": "model_version"})
    deployed = demo_service.deploy_model(api.client(), datasource="shop-sessions-db",
                                         model=PERSONA, epochs=None)
    assert (deployed.version, deployed.run) == ("1.0.0-def456", None)
    assert [r.url.path for r in api.requests if r.method == "POST"] == [
        "/v1/snapshot/shop-sessions-db"]  # no training run
    out = capsys.readouterr().out
    assert "Unchanged since snap_1" in out and "is deployed already" in out


def test_a_changed_snapshot_trains_again(api: FakeApi) -> None:
    api.on("GET /v1/snapshots", page(SNAPSHOT))
    api.on("POST /v1/snapshot/shop-sessions-db", {**SNAPSHOT, "id": "snap_2"}, status=201)
    api.on(LINEAGE, PAYLOADS["lineage"])  # the deployed version: trained on snap_1
    _trains(api, deployed="1.0.0-def456")
    deployed = demo_service.deploy_model(api.client(), datasource="shop-sessions-db",
                                         model=PERSONA, epochs=None, poll_s=0.01)
    assert deployed.version == "1.1.0-abc"
    assert api.bodies()[1] == {"snapshot": "snap_2", "options": {"deploy": "always"}}


def test_a_failed_run_exits_1_with_its_error(api: FakeApi,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    api.on("GET /v1/snapshots", page())
    api.on("POST /v1/snapshot/shop-sessions-db", SNAPSHOT, status=201)
    _trains(api, deployed=None)
    api.on("GET /v1/train/run_1", run_detail("failed", 0, model=PERSONA, error="worker died"))
    with pytest.raises(typer.Exit) as exited:
        demo_service.deploy_model(api.client(), datasource="shop-sessions-db",
                                  model=PERSONA, epochs=None, poll_s=0.01)
    assert exited.value.exit_code == 1 and "worker died" in capsys.readouterr().err


def test_next_steps_are_the_seed_requests_ready_to_paste(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session, products = write_examples(tmp_path / "data")
    assert json.loads(session.read_text()) == SEED_INFER  # the seed's bodies, verbatim
    assert json.loads(products.read_text()) == SEED_TAG
    deployed = demo_service.Deployed(model=PERSONA, version="1.1.0-abc", run="run_1",
                                     snapshot=SnapshotPublic.model_validate(SNAPSHOT))
    made = demo_service.MadeKey(id="key_1", secret="pulse_sk_new", saved_to=tmp_path)
    demo_service.print_next_steps(base_url="http://127.0.0.1:8000/", deployed=deployed,
                                  examples=(session, products), made=made)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "shopper-persona 1.1.0-abc is deployed. Try the seed's requests:"
    assert "  export PULSE_API_KEY=pulse_sk_new" in lines
    assert ("  curl -s -X POST http://127.0.0.1:8000/v1/infer -H \"Authorization: Bearer "
            f"$PULSE_API_KEY\" -H 'Content-Type: application/json' -d @{session}") in lines
    assert any(line.startswith("  curl -s -X POST http://127.0.0.1:8000/v1/products/tag")
               and line.endswith(f"-d @{products}") for line in lines)
