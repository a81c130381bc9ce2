"""Models and the registry (``/v1/models``): versions, deploys, canary rollouts,
rollbacks, history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pulse_ray.schemas.common import Page
from pulse_ray.schemas.drift import DriftReport
from pulse_ray.schemas.models import ModelHistory, ModelPublic, ModelVersions, VersionPublic
from pulse_ray.schemas.retrain import RetrainPolicyPublic
from pulse_ray.schemas.rollouts import RolloutPublic
from pulse_ray.schemas.timeline import Timeline
from pulse_ray.sdk._core import Call, body, endpoint

__all__ = ["ModelEndpoints"]


class ModelEndpoints:
    """Create and look up models; deploy and roll back their versions."""

    @endpoint
    def create_model(
        self, name: str, *, label_column: str, feature_columns: Sequence[str] | None = None,
        constraints: Mapping[str, Mapping[str, Any]] | None = None,
        family: str | None = None, description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Call[ModelPublic]:
        """A model: its family (default tabular-classifier) and data contract — the
        label, the features and per-column ``constraints`` such as
        ``{"transaction_amount": {"exclusive_minimum": 0}, "country": {"required": True}}``."""
        return Call.post("/v1/models", ModelPublic.model_validate, body(
            name=name, label_column=label_column, family=family, description=description,
            feature_columns=feature_columns and list(feature_columns),
            constraints=constraints and {k: dict(v) for k, v in constraints.items()},
        ), idempotency_key=idempotency_key)

    @endpoint
    def list_models(
        self, *, limit: int | None = None, starting_after: str | None = None
    ) -> Call[Page[ModelPublic]]:
        return Call.get("/v1/models", Page[ModelPublic].model_validate, limit=limit,
                        starting_after=starting_after)

    @endpoint
    def get_model(self, model: str) -> Call[ModelPublic]:
        """One model, with the version deployed now."""
        return Call.get(f"/v1/models/{model}", ModelPublic.model_validate)

    @endpoint
    def list_versions(self, model: str) -> Call[ModelVersions]:
        """A model's versions, newest first, with their metrics and status."""
        return Call.get(f"/v1/models/{model}/versions", ModelVersions.model_validate)

    @endpoint
    def deploy_version(
        self, model: str, version: str, *, idempotency_key: str | None = None
    ) -> Call[VersionPublic]:
        """Serves ``version``; the version deployed before is archived."""
        return Call.post(f"/v1/models/{model}/versions/{version}/deploy",
                         VersionPublic.model_validate, idempotency_key=idempotency_key)

    @endpoint
    def rollback_model(
        self, model: str, *, idempotency_key: str | None = None
    ) -> Call[VersionPublic]:
        """Goes back to the version deployed before the current one (409 if none).
        The idempotency key matters here: a retried rollback must not go back twice."""
        return Call.post(f"/v1/models/{model}/rollback", VersionPublic.model_validate,
                         idempotency_key=idempotency_key)

    @endpoint
    def get_model_history(self, model: str) -> Call[ModelHistory]:
        """Every deploy and rollback, newest first: who, when, from, to."""
        return Call.get(f"/v1/models/{model}/history", ModelHistory.model_validate)

    @endpoint
    def get_model_timeline(self, model: str) -> Call[Timeline]:
        """What was live when: each deployed version's period, why it began, and its
        drift and feedback figures, newest first."""
        return Call.get(f"/v1/models/{model}/timeline", Timeline.model_validate)

    @endpoint
    def start_rollout(
        self, model: str, version: str, *, strategy: Literal["canary", "shadow"] = "canary",
        steps: Sequence[int] | None = None,
        interval_s: float | None = None, max_error_rate_delta: float | None = None,
        max_p99_ratio: float | None = None, min_requests: int | None = None,
        idempotency_key: str | None = None,
    ) -> Call[RolloutPublic]:
        """A canary sends a rising share of traffic to ``version``; the service promotes
        it after the last step or rolls it back when its errors or p99 fall out of
        bounds. A shadow sends it copies of requests only, and reports how often it
        agrees; :meth:`promote_rollout` then starts the canary. Options left out come
        from the service's PULSE_ROLLOUT_* settings."""
        return Call.post(f"/v1/models/{model}/versions/{version}/deploy",
                         RolloutPublic.model_validate, body(
                             strategy=strategy, steps=steps and list(steps),
                             interval_s=interval_s, max_error_rate_delta=max_error_rate_delta,
                             max_p99_ratio=max_p99_ratio, min_requests=min_requests),
                         idempotency_key=idempotency_key)

    @endpoint
    def get_rollout(self, model: str) -> Call[RolloutPublic]:
        """The running rollout (else the last): its step and each arm's figures."""
        return Call.get(f"/v1/models/{model}/rollout", RolloutPublic.model_validate)

    @endpoint
    def get_drift(self, model: str, *, limit: int | None = None) -> Call[DriftReport]:
        """Per-feature PSI of the deployed versions' live inputs against their training
        snapshots, window by window, newest first."""
        return Call.get(f"/v1/models/{model}/drift", DriftReport.model_validate, limit=limit)

    @endpoint
    def set_retrain_policy(
        self, model: str, *, schedule: str = "daily", min_new_labels: int = 500,
        on_drift: bool = True, promotion_margin: float = 0.005, metric: str | None = None,
    ) -> Call[RetrainPolicyPublic]:
        """When ``model`` is retrained (``daily`` or a cron string, UTC; sooner on drift)
        and what a retrained version must beat by ``promotion_margin`` on ``metric``."""
        return Call.put(f"/v1/models/{model}/retrain-policy",
                        RetrainPolicyPublic.model_validate, body(
                            schedule=schedule, min_new_labels=min_new_labels,
                            on_drift=on_drift, promotion_margin=promotion_margin,
                            metric=metric))

    @endpoint
    def get_retrain_policy(self, model: str) -> Call[RetrainPolicyPublic]:
        """The model's retrain policy and whether a retrain is due now."""
        return Call.get(f"/v1/models/{model}/retrain-policy",
                        RetrainPolicyPublic.model_validate)

    @endpoint
    def promote_rollout(
        self, model: str, *, idempotency_key: str | None = None
    ) -> Call[RolloutPublic]:
        """Deploys the running canary's candidate now, or makes a shadow its canary (409
        when none runs)."""
        return Call.post(f"/v1/models/{model}/rollout/promote", RolloutPublic.model_validate,
                         idempotency_key=idempotency_key)

    @endpoint
    def abort_rollout(
        self, model: str, *, idempotency_key: str | None = None
    ) -> Call[RolloutPublic]:
        """Stops the running rollout; the stable version keeps all traffic."""
        return Call.post(f"/v1/models/{model}/rollout/abort", RolloutPublic.model_validate,
                         idempotency_key=idempotency_key)
