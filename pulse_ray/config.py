"""Settings: the one place configuration enters Pulse.

Everything is read from ``PULSE_*`` environment variables (and an optional ``.env``
file) by :class:`Settings`. Nothing is read at import time: call :func:`get_settings`
(cached) from entry points, then pass the object down. Ray Serve replicas receive the
resolved object from the application builder rather than re-reading their own
environment, so a replica on another node sees exactly what the driver saw.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pulse_ray.plans import load_plans
from pulse_ray.rollouts import steps_problem

__all__ = ["JOB_SETTINGS_VARIABLE", "EncoderPrecision", "Settings", "get_settings", "job_settings"]

# The text model's arithmetic (pulse_ray.shop.encoder.model_dtype says what "auto" is).
EncoderPrecision = Literal["auto", "float32"]


_DERIVED: dict[str, Callable[[Settings], str]] = {
    "store_url": lambda s: f"sqlite:///{s.data_dir / 'pulse.db'}",
    "snapshot_uri": lambda s: str(s.data_dir / "snapshots"),
    "artifact_uri": lambda s: str(s.data_dir / "models"),
    "train_storage_uri": lambda s: str(s.data_dir / "runs"),
    "jobs_url": lambda s: f"http://127.0.0.1:{s.ray_dashboard_port}",
}
"""What an empty setting stands for, made from the others once they are read."""

_BOUNDED: tuple[tuple[str, str, str], ...] = (
    ("max_concurrent_requests", "ingress_max_ongoing_requests",
     ", or Serve queues requests before Pulse can shed them"),
    ("model_min_replicas", "model_max_replicas", ""),
    ("drift_watch_psi", "drift_alert_psi", ""),
)
"""Settings that must not exceed another: (the setting, its bound, what goes wrong
otherwise, when the reason is not plain)."""


class Settings(BaseSettings):
    """Pulse configuration; every field maps to ``PULSE_<FIELD_NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="PULSE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- storage -----------------------------------------------------------------
    data_dir: Path = Field(
        default=Path(".pulse"),
        description="Where the SQLite store, snapshots and artifacts live; made absolute "
        "so Ray workers (whose working directory differs) find the same place.",
    )
    snapshot_uri: str = Field(
        default="",
        description="Where snapshots are written: a local directory or any pyarrow "
        "filesystem URI (s3://bucket/prefix). Empty: data_dir/snapshots.",
    )
    snapshot_task_cpus: float | None = Field(
        default=None,
        gt=0,
        description="Logical CPUs each snapshot read/write task asks Ray for. Empty: the "
        "resource plan's (0.5, less if serving leaves less; see pulse_ray/capacity.py).",
    )
    snapshot_deadline_s: float = Field(
        default=55, gt=0,
        description="How long a snapshot may take: past it its tasks are cancelled and the "
        "request answers 503 saying so (a busy cluster leaves them waiting for CPU). It "
        "runs within its request: keep it below request_timeout_s, or the request's 504 "
        "(which cancels it too, without the reason) comes first.",
    )
    store_url: str = Field(
        default="",
        description="SQLAlchemy URL of the metadata store. Empty: a SQLite file in "
        "data_dir. PostgreSQL: postgresql://user:pass@host/db (psycopg 3).",
    )

    secret_keys: SecretStr | None = Field(
        default=None,
        description="Fernet keys that seal the store's secrets (datasource passwords, "
        "webhook signing secrets), comma separated, newest first: the first seals, all "
        "open. Empty: the key file data_dir/secret.key, created 0600 on first start. "
        "Set it on a cluster whose nodes do not share data_dir.",
    )

    # --- Ray ---------------------------------------------------------------------
    ray_address: str = Field(
        default="",
        description="Address of an existing Ray cluster ('auto', 'ray://...'); empty "
        "starts a local Ray for `pulse serve`.",
    )
    ray_num_cpus: int | None = Field(
        default=None, ge=1, description="Logical CPUs of a locally started Ray. Empty: the "
        "machine's cores, or more when serving, a snapshot and a training run need more."
    )
    ray_num_gpus: int | None = Field(
        default=None, ge=0, description="GPUs of a locally started Ray (None: detect)."
    )
    ray_idle_workers: int = Field(
        default=6,
        ge=1,
        description="Idle Python workers a locally started Ray keeps warm "
        "(RAY_num_workers_soft_limit), so Ray Data tasks skip process start-up.",
    )
    ray_dashboard: bool = Field(
        default=True, description="Start the Ray dashboard (Ray Jobs need it) locally."
    )
    ray_dashboard_port: int = Field(default=8265, ge=1, le=65535)
    jobs_url: str = Field(
        default="",
        description="Ray Jobs API (the dashboard) that training is submitted to. Empty: "
        "http://127.0.0.1:<ray_dashboard_port>.",
    )
    job_python: str = Field(
        default="",
        description="Python that runs training jobs; empty: this process's interpreter "
        "(set `python` on a cluster whose nodes install Pulse elsewhere).",
    )

    # --- training ----------------------------------------------------------------
    artifact_uri: str = Field(
        default="", description="Where model versions are stored (URI or directory); empty: "
        "data_dir/models.",
    )
    train_storage_uri: str = Field(
        default="", description="Ray Train's checkpoint storage (shared on a multi-node "
        "cluster); empty: data_dir/runs.",
    )
    train_worker_cpus: float | None = Field(
        default=None, gt=0, description="CPUs per Train worker. Empty: the resource plan's "
        "(1, less if serving leaves less).")
    train_data_cpus: float | None = Field(
        default=None, gt=0, description="CPUs each Ray Data task of a training job asks for "
        "(empty: 0.25)."
    )
    train_start_timeout_s: float = Field(
        default=120, gt=0,
        description="How long a run's worker group may wait for its resources (also after a "
        "lost worker restarts it) before the run fails with that reason.",
    )
    train_deadline_s: float = Field(
        default=6 * 3600, gt=0,
        description="A run not finished this long after it was queued fails with that "
        "reason and its Ray job is stopped, whatever it was waiting for (resources, a "
        "job that never started, workers that hang).",
    )
    train_max_failures: int = Field(
        default=2, ge=0, description="Worker losses a run survives (resuming from checkpoints)."
    )
    train_placement: Literal["PACK", "SPREAD"] = Field(
        default="PACK", description="How a run's workers are placed: PACK fills a node first "
        "(less network); SPREAD puts them on different nodes where it can, so losing one "
        "node costs one worker, and the run resumes on the nodes left.",
    )

    train_direct_max_rows: int = Field(
        default=100_000, ge=0,
        description="Runs of one worker without a GPU on snapshots of at most this many rows "
        "train in the store's training coordinator (a Ray actor that stays up with torch "
        "loaded: seconds to start, not a Ray Job and a Train worker group); larger runs, "
        "and runs of several workers or a GPU, run as Ray Jobs with Ray Train. 0: every "
        "run as a Ray Job.",
    )

    # --- inference -----------------------------------------------------------------
    model_cache_ttl_s: float = Field(
        default=1.0, gt=0, le=30,
        description="How long a replica keeps which version serves a model: a deploy or "
        "rollback moves traffic within this time.",
    )
    prediction_cache_size: int = Field(
        default=10_000, ge=0, description="Outputs kept per replica for identical inputs."
    )
    inference_log_interval_s: float = Field(
        default=0.05, gt=0, le=5, description="How often inference records are written."
    )
    model_serving: Literal["auto", "ingress", "replicas"] = Field(
        default="auto", description="Where predictions run. `ingress`: in each ingress "
        "replica's process, no hop (the trained models are small tabular networks; a "
        "Serve handle call costs more CPU than their forward pass). `replicas`: on the "
        "ModelServer deployment's own autoscaled replicas, multiplexed by version and "
        "batched (GPUs; models scaled apart from HTTP). `auto`: replicas when "
        "PULSE_MODEL_NUM_GPUS > 0, else ingress.")
    model_min_replicas: int = Field(default=1, ge=0, description="ModelServer autoscaling floor.")
    model_max_replicas: int = Field(default=2, ge=1, description="ModelServer autoscaling cap.")
    model_target_ongoing_requests: float = Field(
        default=16, gt=0, description="Requests per ModelServer replica autoscaling aims at."
    )
    model_max_ongoing_requests: int = Field(
        default=64, ge=1, description="Requests one ModelServer replica takes at once "
        "(at least model_batch_size, or batches never fill)."
    )
    model_max_queued_requests: int = Field(
        default=256, ge=-1, description="Past this, callers get 503 + Retry-After (-1: no cap)."
    )
    model_num_cpus: float | None = Field(
        default=None, gt=0, description="CPUs per ModelServer replica (empty: the resource "
        "plan's, 0.5 at most).")
    model_num_gpus: float = Field(
        default=0, ge=0, description="GPUs per ModelServer replica (0 on a CPU cluster)."
    )
    model_versions_per_replica: int = Field(
        default=4, ge=1, description="Model versions one replica keeps loaded (LRU)."
    )
    model_batch_size: int = Field(default=16, ge=1, description="@serve.batch max size.")
    model_batch_wait_s: float = Field(
        default=0.0005, ge=0, description="@serve.batch wait for more requests."
    )

    # --- rollouts: what a deploy's body leaves out ------------------------------------
    rollout_steps: list[int] = Field(
        default=[5, 25, 50, 100],
        description="A canary's traffic shares in percent, rising, the last 100.",
    )
    rollout_interval_s: float = Field(
        default=60, gt=0, le=86_400,
        description="How long each canary step runs before its window is judged.",
    )
    rollout_max_error_rate_delta: float = Field(
        default=0.01, ge=0, le=1,
        description="How much higher the candidate's server-error rate may be than the "
        "stable version's over a window (0.01: one point).",
    )
    rollout_max_p99_ratio: float = Field(
        default=1.2, ge=1,
        description="How many times the stable version's p99 latency the candidate's may be.",
    )
    rollout_min_requests: int = Field(
        default=200, ge=1,
        description="Requests the candidate must have answered in a window before it is "
        "judged (fewer: the step waits).",
    )
    rollout_auto_strategy: Literal["canary", "immediate"] = Field(
        default="canary",
        description="How a training run's `deploy: auto` replaces a deployed version "
        "(a model's first version is deployed at once either way).",
    )
    rollout_shadow_queue: int = Field(
        default=100, ge=1, le=100_000,
        description="Copies of requests waiting for a shadow candidate, per ingress "
        "replica; more are dropped (the stable answer never waits for them).",
    )
    rollout_tick_s: float = Field(
        default=1.0, gt=0, le=60,
        description="How often the rollout controller looks at the running rollouts.",
    )

    # --- the closed loop: inputs kept, drift watch ---------------------------------
    inference_inputs_retention_h: float = Field(
        default=168, ge=0,
        description="How long each inference record keeps the input the model read (for "
        "the drift watch); the controller clears older ones. 0 keeps none.",
    )
    traffic_retention_h: float = Field(
        default=720, ge=1,
        description="How long the per-minute traffic counts the dashboard's overview reads "
        "(its last hour) are kept; the controller deletes older ones.",
    )
    retention_interval_s: float = Field(
        default=300, gt=0, le=86_400,
        description="How often the controller clears inputs and traffic past their retention.",
    )
    drift_window_requests: int = Field(
        default=1000, ge=1, description="A drift window ends after this many inferences...")
    drift_window_s: float = Field(
        default=3600, gt=0, description="... or this long after its first, whichever first.")
    drift_min_rows: int = Field(
        default=200, ge=1, description="A window with fewer inferences is never judged.")
    drift_watch_psi: float = Field(
        default=0.1, gt=0, description="A feature's PSI from which it is watched.")
    drift_alert_psi: float = Field(
        default=0.25, gt=0, description="A feature's PSI from which it has drifted (and "
        "model.drift is sent when it crosses it).")
    drift_interval_s: float = Field(
        default=30, gt=0, le=3600,
        description="How often the controller closes drift windows.",
    )
    retrain_interval_s: float = Field(
        default=60, gt=0, le=3600,
        description="How often the controller looks for due retrain policies and moves "
        "the retrains in progress on.",
    )
    retrain_holdout_fraction: float = Field(
        default=0.2, gt=0, lt=1,
        description="The share of a retrain's labelled feedback, the latest by inference "
        "time, held out (never trained on) to compare the new version with the champion.",
    )
    retrain_min_holdout_rows: int = Field(
        default=50, ge=1,
        description="A retrain with fewer held-out labelled rows fails saying so: a "
        "comparison on fewer decides nothing.",
    )

    # --- e-commerce (seed 002) ----------------------------------------------------
    shop_persona_model: str = Field(
        default="shopper-persona",
        description="The model POST /v1/infer reads personas with (trained like any "
        "other: `pulse demo shop` creates it).",
    )
    shop_tag_sync_max: int = Field(
        default=100, ge=1, description="Products tagged within the request; more are "
        "accepted with 202 and tagged in the background (products.tagged announces it).",
    )
    tag_lease_s: float = Field(
        default=30, gt=0, le=3600,
        description="How long a worker holds a background tagging job without a "
        "checkpoint (one each batch of 256 products renews it): a job whose worker died "
        "is taken over by another this long after its last checkpoint.",
    )
    tag_poll_interval_s: float = Field(
        default=1.0, gt=0, le=60,
        description="How often each ingress replica's tagging worker looks for a job to "
        "take (a job accepted by the replica itself starts at once).",
    )
    tag_job_deadline_s: float = Field(
        default=3600, gt=0,
        description="A background tagging job not finished this long after it was "
        "accepted fails with that reason (no worker, the text model unavailable, a job "
        "that keeps killing its workers).",
    )
    shop_catalog_ttl_s: float = Field(
        default=5.0, gt=0, le=300,
        description="How long a replica keeps an account's catalog before checking the "
        "store for new tags or purchases (in the background: requests meanwhile use the "
        "catalog the replica has).",
    )
    shop_query_cache_size: int = Field(
        default=10_000, ge=0, description="Search-query embeddings kept per replica.")
    encoder_replicas: int = Field(default=1, ge=1, description="TextEncoder replicas.")
    encoder_num_cpus: float | None = Field(
        default=None, gt=0, description="CPUs per TextEncoder replica (empty: the resource "
        "plan's, 0.5 at most).")
    encoder_num_gpus: float = Field(
        default=0, ge=0, description="GPUs per TextEncoder replica (0 on a CPU cluster).")
    encoder_precision: EncoderPrecision = Field(
        default="auto", description="The text model's arithmetic: auto is bfloat16 on a "
        "CPU with native bfloat16 (AVX512-BF16, AMX), float16 on a GPU, else float32 "
        "(vectors within cosine 0.9999 of float32's, about twice as fast); float32 always "
        "runs it in float32.")

    # --- HTTP / Serve ------------------------------------------------------------
    http_host: str = "127.0.0.1"
    http_port: int = Field(
        default=8000, ge=1, le=64000, description="HTTP port (HAProxy mode uses +404..+1500)."
    )
    serve_app_name: str = "pulse"
    serve_throughput_optimized: bool = Field(
        default=True,
        description="Set RAY_SERVE_THROUGHPUT_OPTIMIZED=1 on a locally started Ray.",
    )
    serve_haproxy: bool = Field(
        default=True,
        description="Set RAY_SERVE_ENABLE_HA_PROXY=1 on a locally started Ray: Ray's "
        "bundled HAProxy takes the HTTP port and forwards straight to ingress replicas "
        "(5-10x the requests/s of the default proxy in loadtests/bench_ingress.py). "
        "Replicas then listen on all interfaces, ports 30000+.",
    )
    ingress_replicas: int = Field(
        default=2, ge=1, description="Ingress replicas (two by default: one Python "
        "process serves requests from one core at a time).")
    ingress_num_cpus: float | None = Field(
        default=None, gt=0, description="Logical CPUs reserved per ingress replica (empty: "
        "the resource plan's, 0.5 at most)."
    )
    ingress_max_ongoing_requests: int = Field(
        default=512,
        ge=1,
        description="Serve's per-replica concurrency cap (Serve's default of 5 throttles).",
    )
    max_concurrent_requests: int = Field(
        default=256,
        ge=1,
        description="Requests one ingress replica works on before it sheds load with "
        "503 UNAVAILABLE + Retry-After; below ingress_max_ongoing_requests so the "
        "client gets Pulse's envelope rather than an unbounded queue.",
    )
    request_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="Deadline of one request; past it the client gets 504 TIMEOUT.",
    )
    lost_replica_retry_s: float = Field(
        default=20.0,
        ge=0,
        description="How long a prediction or an encoding whose ModelServer/TextEncoder "
        "replica died is sent again (to another replica or its replacement) before the "
        "client gets 503 + Retry-After; at most half of request_timeout_s.",
    )
    serve_access_log: bool = Field(
        default=False, description="Serve's per-request access log (off: it costs throughput)."
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest accepted request body (413 over)."
    )

    # --- auth ----------------------------------------------------------------------
    auth_cache_ttl_s: float = Field(
        default=0.5,
        ge=0,
        le=1.0,
        description="How long a replica trusts a key it looked up; bounds how late a "
        "revocation takes effect (at most 1 s).",
    )

    # --- dashboard -----------------------------------------------------------------
    dashboard_idle_timeout_s: float = Field(
        default=1800, gt=0, le=7 * 86400,
        description="A dashboard session unused this long is over: the next page asks to "
        "sign in again.",
    )
    device_code_ttl_s: float = Field(
        default=600, ge=30, le=3600,
        description="How long a `pulse auth login` code waits for approval.",
    )

    # --- webhooks ----------------------------------------------------------------
    webhook_allow_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts webhooks may reach even on private or loopback addresses "
        "(local development and tests); everything else must resolve to a public address.",
    )
    webhook_allow_loopback: bool | None = Field(
        default=None,
        description="Let webhooks reach loopback addresses (127.0.0.1, ::1; private ones "
        "stay refused). Empty: on when `pulse serve` runs its own local Ray listening on a "
        "loopback address (local development), off anywhere else (a cluster).",
    )
    webhook_retry_schedule_s: list[float] = Field(
        default=[0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
        min_length=1,
        description="Delay before each attempt (Standard Webhooks' schedule); ±10% jitter.",
    )
    webhook_timeout_s: float = Field(default=15, gt=0, description="Per delivery attempt.")
    webhook_concurrency: int = Field(
        default=32, ge=1, description="Deliveries in flight at once, across endpoints."
    )
    webhook_endpoint_concurrency: int = Field(
        default=4, ge=1, description="Deliveries in flight to one endpoint (a slow "
        "receiver holds only these)."
    )
    webhook_poll_interval_s: float = Field(
        default=0.5, gt=0, le=60, description="How often the dispatcher looks for due work."
    )
    webhook_disable_after_s: float = Field(
        default=5 * 86400, gt=0,
        description="An endpoint failing every attempt for this long is disabled.",
    )
    webhook_secret_overlap_s: float = Field(
        default=86400, ge=0,
        description="After a rotation, deliveries are signed by the old secret too this long.",
    )

    # --- limits ------------------------------------------------------------------
    rate_limits: bool = Field(default=True, description="Enforce the plans' rate limits.")
    plans_file: Path | None = Field(
        default=None, description="TOML or JSON file changing the default plans' limits."
    )
    rate_limit_lease_s: float = Field(
        default=0.5,
        gt=0,
        le=5,
        description="How long a replica may hold tokens it leased from the shared buckets "
        "(longer: fewer round trips on busy keys; shorter: less held back from other "
        "replicas). Exactness near a limit does not depend on it.",
    )
    idempotency_ttl_h: float = Field(
        default=24, gt=0, description="How long an Idempotency-Key's first answer is kept."
    )
    max_batch_items: int = Field(
        default=1000, ge=1, description="Most items in any JSON array of a request body."
    )
    max_string_length: int = Field(
        default=10_000, ge=16, description="Longest string in a request body."
    )

    # --- logging -----------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("rollout_steps")
    @classmethod
    def _canary_steps(cls, value: list[int]) -> list[int]:
        problem = steps_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("plans_file")
    @classmethod
    def _valid_plans_file(cls, value: Path | None) -> Path | None:
        # Read here so a bad file stops `pulse serve` at once with its message, instead
        # of failing every ingress replica as Serve starts it.
        load_plans(value)
        return value

    @model_validator(mode="after")
    def _derived_and_bounded(self) -> Settings:
        """Fills each empty setting of :data:`_DERIVED`, then checks :data:`_BOUNDED`."""
        for name, derive in _DERIVED.items():
            if not getattr(self, name):
                setattr(self, name, derive(self))
        for lower, upper, why in _BOUNDED:
            if getattr(self, lower) > getattr(self, upper):
                raise ValueError(f"{lower} must not exceed {upper}{why}")
        return self

    @property
    def models_in_ingress(self) -> bool:
        """Whether predictions run in the ingress replicas (no ModelServer deployment);
        see ``model_serving``."""
        if self.model_serving == "auto":
            return self.model_num_gpus == 0
        return self.model_serving == "ingress"

    def ensure_dirs(self) -> None:
        """Creates the data directory; called by entry points, never at import."""
        self.data_dir.mkdir(parents=True, exist_ok=True)


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment on first use."""
    return Settings()


JOB_SETTINGS_VARIABLE = "PULSE_SETTINGS_JSON"
"""A job submitted by the service gets the service's settings, whole, in this variable."""


def job_settings() -> Settings:
    """A job's settings: the service's, as serialized into :data:`JOB_SETTINGS_VARIABLE`
    when it submitted the job, else (a job submitted by hand) the environment's."""
    serialized = os.environ.get(JOB_SETTINGS_VARIABLE)
    return Settings.model_validate_json(serialized) if serialized else Settings()
