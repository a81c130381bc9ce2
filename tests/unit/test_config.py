from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pulse_ray.config import Settings, get_settings


def test_defaults_are_local_and_absolute(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.data_dir == tmp_path / ".pulse"  # tests run in tmp_path
    assert settings.store_url == f"sqlite:///{tmp_path / '.pulse' / 'pulse.db'}"
    assert (settings.http_host, settings.http_port, settings.ray_address) == (
        "127.0.0.1", 8000, "",
    )
    assert not settings.data_dir.exists()  # nothing is created until an entry point asks


def test_empty_locations_default_under_the_data_dir_and_set_ones_are_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PULSE_RAY_DASHBOARD_PORT", "8300")
    monkeypatch.setenv("PULSE_ARTIFACT_URI", "s3://bucket/models")
    settings = Settings()
    data = tmp_path / ".pulse"
    assert (settings.snapshot_uri, settings.artifact_uri, settings.train_storage_uri,
            settings.jobs_url) == (str(data / "snapshots"), "s3://bucket/models",
                                   str(data / "runs"), "http://127.0.0.1:8300")


def test_env_vars_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PULSE_HTTP_PORT=9100\nPULSE_INGRESS_REPLICAS=3\n")
    monkeypatch.setenv("PULSE_STORE_URL", "postgresql://pulse@db/pulse")
    monkeypatch.setenv("PULSE_INGRESS_REPLICAS", "2")  # the environment beats .env
    settings = Settings()
    assert settings.http_port == 9100
    assert settings.ingress_replicas == 2
    assert settings.store_url == "postgresql://pulse@db/pulse"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PULSE_HTTP_PORT", "70000"),
        ("PULSE_AUTH_CACHE_TTL_S", "5"),
        ("PULSE_INGRESS_REPLICAS", "0"),
        ("PULSE_MAX_CONCURRENT_REQUESTS", "10000"),
    ],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"PULSE_MAX_CONCURRENT_REQUESTS": "600", "PULSE_INGRESS_MAX_ONGOING_REQUESTS": "512"},
         "max_concurrent_requests must not exceed ingress_max_ongoing_requests, or Serve "
         "queues requests before Pulse can shed them"),
        ({"PULSE_MODEL_MIN_REPLICAS": "3", "PULSE_MODEL_MAX_REPLICAS": "2"},
         "model_min_replicas must not exceed model_max_replicas"),
        ({"PULSE_DRIFT_WATCH_PSI": "0.3", "PULSE_DRIFT_ALERT_PSI": "0.25"},
         "drift_watch_psi must not exceed drift_alert_psi"),
    ],
)
def test_a_setting_above_its_bound_is_refused_naming_both(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], message: str
) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    [error] = info.value.errors()
    assert error["msg"] == f"Value error, {message}"


def test_a_setting_at_its_bound_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_MODEL_MIN_REPLICAS", "2")
    assert Settings().model_min_replicas == Settings().model_max_replicas == 2


def test_get_settings_reads_once() -> None:
    get_settings.cache_clear()
    try:
        assert get_settings() is get_settings()
    finally:
        get_settings.cache_clear()


def test_a_bad_plans_file_is_refused_with_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plans = tmp_path / "plans.toml"
    plans.write_text('[plans.free]\nrequests = 0\n')
    monkeypatch.setenv("PULSE_PLANS_FILE", str(plans))
    with pytest.raises(ValidationError) as info:
        Settings()
    [error] = info.value.errors()
    assert error["loc"] == ("plans_file",)
    assert "plans.toml: plans.free.requests: Input should be greater than 0" in error["msg"]


@pytest.mark.parametrize(("serving", "gpus", "in_ingress"), [
    ("auto", 0, True), ("auto", 1, False), ("ingress", 1, True), ("replicas", 0, False),
])
def test_models_run_in_the_ingress_unless_replicas_are_asked_for_or_have_gpus(
        serving: str, gpus: float, in_ingress: bool) -> None:
    settings = Settings(_env_file=None, model_serving=serving,  # type: ignore[call-arg]
                        model_num_gpus=gpus)
    assert settings.models_in_ingress is in_ingress
