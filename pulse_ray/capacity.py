"""One resource plan: what Pulse reserves on the Ray cluster for serving, snapshots,
training and tagging, derived from what the cluster has.

Ray schedules by logical resources. Pulse's own Serve replicas (ingress, ModelServer
unless models run in the ingress, TextEncoder) hold theirs for as long as the service
runs; a snapshot's read/write tasks and a training run's workers and data tasks need
theirs on top. If they do not fit, Ray does not fail the work — it waits, for ever. So
every piece of work Pulse starts is checked against the plan first and refused at once,
naming the resource and the setting to change, when the cluster can *never* run it (busy
is fine: that passes).

* A per-replica or per-task size left unset is derived: serving replicas take at most
  :data:`SERVING_SHARE` of the cluster (0.5 CPU each at most), a training worker at most
  what serving leaves after one data task. Sizes that are set are used as they are.
* A local Ray (``pulse serve`` with no ``PULSE_RAY_ADDRESS``) is given enough logical
  CPUs for serving, one snapshot and one training run at the same time — logical CPUs
  are scheduling tokens, not cores — unless ``PULSE_RAY_NUM_CPUS`` says otherwise.
* Tagging runs on the TextEncoder replicas, so it is covered by serving's share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from pulse_ray.config import Settings
from pulse_ray.errors import ErrorDetail, InsufficientResourcesError, ValidationError

__all__ = [
    "SERVING_SHARE",
    "Cluster",
    "ReplicaSet",
    "ResourcePlan",
    "Resources",
    "StaticCluster",
    "local_ray_cpus",
    "plan_resources",
]

SERVING_SHARE = 0.4
"""At most this share of the cluster's CPUs goes to serving replicas sized by the plan."""
_SERVING_CPUS = 0.5  # per replica, at most, when the plan sizes it
_MIN_REPLICA_CPUS = 0.05  # Serve refuses 0; below this the reservation means nothing
_SNAPSHOT_TASK_CPUS = 0.5
_TRAIN_WORKER_CPUS = 1.0
_TRAIN_DATA_CPUS = 0.25


@dataclass(frozen=True, slots=True)
class Resources:
    """Logical resources, as Ray counts them."""

    cpus: float
    gpus: float = 0.0


class Cluster(Protocol):
    """Where the plan learns what the cluster has (Ray's totals under Serve)."""

    def totals(self) -> Resources: ...


@dataclass(frozen=True, slots=True)
class StaticCluster:
    """A cluster of a fixed size: in-process use and tests."""

    resources: Resources

    def totals(self) -> Resources:
        return self.resources


@dataclass(frozen=True, slots=True)
class ReplicaSet:
    """A Serve deployment's reservation: ``replicas`` (its floor) of ``cpus``/``gpus``."""

    name: str
    replicas: int
    cpus: float
    gpus: float
    setting: str  # the setting that sizes one replica

    @property
    def total_cpus(self) -> float:
        return self.replicas * self.cpus

    @property
    def total_gpus(self) -> float:
        return self.replicas * self.gpus


@dataclass(frozen=True, slots=True)
class ResourcePlan:
    cluster: Resources
    serving: tuple[ReplicaSet, ...]
    snapshot_task_cpus: float
    train_worker_cpus: float
    train_data_cpus: float

    @property
    def serving_cpus(self) -> float:
        return sum(r.total_cpus for r in self.serving)

    @property
    def serving_gpus(self) -> float:
        return sum(r.total_gpus for r in self.serving)

    @property
    def free_cpus(self) -> float:
        """What serving leaves for snapshots and training."""
        return self.cluster.cpus - self.serving_cpus

    def replica(self, name: str) -> ReplicaSet:
        return next(r for r in self.serving if r.name == name)

    def pinned(self, settings: Settings) -> Settings:
        """``settings`` with the serving replicas' sizes fixed as planned: replicas get
        these, so a plan made later on a grown cluster still counts what they hold."""
        setting = {"ingress": "ingress_num_cpus", "ModelServer": "model_num_cpus",
                   "TextEncoder": "encoder_num_cpus"}
        return settings.model_copy(update={setting[r.name]: r.cpus for r in self.serving})

    @property
    def snapshot_parallelism(self) -> int:
        """Read/write tasks one snapshot is split into: as many as fit beside serving."""
        return max(1, int(self.free_cpus / self.snapshot_task_cpus + 1e-9))

    def check_serving(self) -> None:
        """Raises unless the cluster can hold Pulse's own replicas at their floor.

        Raises:
            InsufficientResourcesError: naming the replicas' settings.
        """
        problems = []
        if self.serving_cpus > self.cluster.cpus + 1e-9:
            sizes = ", ".join(f"{r.name} {r.replicas} × {r.cpus:g} ({r.setting})"
                              for r in self.serving)
            problems.append(f"Pulse's replicas need {self.serving_cpus:g} CPU ({sizes}); the "
                            f"cluster has {self.cluster.cpus:g}")
        if self.serving_gpus > self.cluster.gpus + 1e-9:
            problems.append(f"Pulse's replicas need {self.serving_gpus:g} GPU; the cluster has "
                            f"{self.cluster.gpus:g} (PULSE_MODEL_NUM_GPUS, PULSE_ENCODER_NUM_GPUS)")
        if problems:
            raise InsufficientResourcesError("; ".join(problems) + ": lower them or add nodes")

    def check_snapshot(self) -> None:
        """Raises when a snapshot task could never be scheduled beside serving.

        Raises:
            InsufficientResourcesError: naming PULSE_SNAPSHOT_TASK_CPUS.
        """
        if self.snapshot_task_cpus > self.free_cpus + 1e-9:
            raise InsufficientResourcesError(
                f"A snapshot task needs {self.snapshot_task_cpus:g} CPU but the cluster has "
                f"{self._free_text()}: lower PULSE_SNAPSHOT_TASK_CPUS or add nodes")

    def check_training(self, *, num_workers: int, gpu: bool) -> None:
        """Raises when a run of ``num_workers`` could never be scheduled beside serving.

        Raises:
            ValidationError: on ``options.gpu`` or ``options.num_workers`` (what the
                request can change).
        """
        details = []
        if gpu and self.cluster.gpus < num_workers:
            details.append(ErrorDetail(
                "options.gpu", f"the cluster has {self.cluster.gpus:g} GPU(s) for "
                f"{num_workers} worker(s); set gpu to false"))
        needed = num_workers * self.train_worker_cpus + self.train_data_cpus
        if needed > self.free_cpus + 1e-9:
            details.append(ErrorDetail(
                "options.num_workers",
                f"{num_workers} worker(s) need {needed:g} CPU ({self.train_worker_cpus:g} each, "
                f"PULSE_TRAIN_WORKER_CPUS, + {self.train_data_cpus:g} for data tasks) but the "
                f"cluster has {self._free_text()}"))
        if details:
            raise ValidationError("The cluster cannot run this training", details=details)

    def _free_text(self) -> str:
        return (f"{self.cluster.cpus:g} CPU, of which {self.serving_cpus:g} hold Pulse's "
                f"replicas ({max(self.free_cpus, 0):g} left)")

    def describe(self) -> list[str]:
        """The plan in lines, as ``pulse serve`` logs it."""
        serving = ", ".join(f"{r.name} {r.replicas} × {r.cpus:g}" for r in self.serving)
        workers = int((self.free_cpus - self.train_data_cpus) / self.train_worker_cpus + 1e-9)
        return [
            f"cluster: {self.cluster.cpus:g} CPU, {self.cluster.gpus:g} GPU",
            f"serving: {self.serving_cpus:g} CPU ({serving}); tagging runs on TextEncoder",
            f"snapshots: {self.snapshot_task_cpus:g} CPU per read/write task, "
            f"{self.snapshot_parallelism} at once",
            f"training: {self.train_worker_cpus:g} CPU per worker + {self.train_data_cpus:g} "
            f"per data task, up to {max(workers, 0)} worker(s) per run",
        ]


def _serving_sets(settings: Settings) -> list[tuple[str, int, float | None, float, str]]:
    """The replica sets Pulse deploys: no ModelServer when models run in the ingress."""
    model_server = [] if settings.models_in_ingress else [
        ("ModelServer", max(1, settings.model_min_replicas), settings.model_num_cpus,
         settings.model_num_gpus, "PULSE_MODEL_NUM_CPUS")]
    return [
        ("ingress", settings.ingress_replicas, settings.ingress_num_cpus, 0.0,
         "PULSE_INGRESS_NUM_CPUS"),
        *model_server,
        ("TextEncoder", settings.encoder_replicas, settings.encoder_num_cpus,
         settings.encoder_num_gpus, "PULSE_ENCODER_NUM_CPUS"),
    ]


def _floor(cpus: float) -> float:
    """Hundredths of a CPU, rounded down: derived sizes never add up past the cluster."""
    return math.floor(cpus * 100 + 1e-6) / 100


def plan_resources(settings: Settings, cluster: Resources) -> ResourcePlan:
    """The plan for ``cluster``: sizes the settings give, the rest derived (module doc)."""
    sets = _serving_sets(settings)
    unsized = sum(replicas for _, replicas, cpus, _, _ in sets if cpus is None)
    fixed = sum(replicas * cpus for _, replicas, cpus, _, _ in sets if cpus is not None)
    share = (SERVING_SHARE * cluster.cpus - fixed) / unsized if unsized else 0.0
    derived = _floor(min(_SERVING_CPUS, max(_MIN_REPLICA_CPUS, share)))
    serving = tuple(ReplicaSet(name, replicas, derived if cpus is None else cpus, gpus, setting)
                    for name, replicas, cpus, gpus, setting in sets)
    free = cluster.cpus - sum(r.total_cpus for r in serving)
    data_cpus = settings.train_data_cpus or _TRAIN_DATA_CPUS
    worker_cpus = settings.train_worker_cpus or _floor(
        min(_TRAIN_WORKER_CPUS, max(free - data_cpus, _MIN_REPLICA_CPUS)))
    snapshot_cpus = settings.snapshot_task_cpus or _floor(
        min(_SNAPSHOT_TASK_CPUS, max(free, _MIN_REPLICA_CPUS)))
    return ResourcePlan(cluster=cluster, serving=serving, snapshot_task_cpus=snapshot_cpus,
                        train_worker_cpus=worker_cpus, train_data_cpus=data_cpus)


def local_ray_cpus(settings: Settings, detected: int) -> int:
    """Logical CPUs for a Ray started here: the machine's cores, or more when serving,
    one snapshot and one training run at once need more (logical CPUs are scheduling
    tokens; the replicas idle between requests)."""
    if settings.ray_num_cpus is not None:
        return settings.ray_num_cpus
    serving = sum(replicas * (cpus if cpus is not None else _SERVING_CPUS)
                  for _, replicas, cpus, _, _ in _serving_sets(settings))
    work = ((settings.snapshot_task_cpus or _SNAPSHOT_TASK_CPUS)
            + (settings.train_worker_cpus or _TRAIN_WORKER_CPUS)
            + (settings.train_data_cpus or _TRAIN_DATA_CPUS))
    needed = max(serving + work, serving / SERVING_SHARE)
    return max(detected, math.ceil(needed - 1e-9))
