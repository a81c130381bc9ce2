"""The resource plan: sizes derived from the cluster, and work it can never run refused."""

from __future__ import annotations

import pytest

from pulse_ray.capacity import Resources, local_ray_cpus, plan_resources
from pulse_ray.config import Settings
from pulse_ray.errors import InsufficientResourcesError, ValidationError


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.mark.parametrize(("serving", "replicas", "local_cpus"), [
    ("auto", ["ingress", "TextEncoder"], 4),  # on CPU, models run in the ingress
    ("replicas", ["ingress", "ModelServer", "TextEncoder"], 5),
])
def test_a_local_ray_on_two_cores_gets_room_for_serving_a_snapshot_and_a_run(
        serving: str, replicas: list[str], local_cpus: int) -> None:
    settings = _settings(model_serving=serving)
    cpus = local_ray_cpus(settings, detected=2)
    assert cpus == local_cpus
    plan = plan_resources(settings, Resources(cpus=cpus))
    assert [r.name for r in plan.serving] == replicas
    assert plan.replica("ingress").replicas == 2  # one Python process per core
    assert plan.serving_cpus == 0.5 * (len(replicas) + 1)  # 0.5 each
    plan.check_serving()
    plan.check_snapshot()
    plan.check_training(num_workers=1, gpu=False)
    # ... all three at once: one snapshot task and one run beside serving.
    assert (plan.serving_cpus + plan.snapshot_task_cpus + plan.train_worker_cpus
            + plan.train_data_cpus) <= cpus


def test_a_big_machine_keeps_its_cores_and_an_explicit_count_wins() -> None:
    assert local_ray_cpus(_settings(), detected=16) == 16
    assert local_ray_cpus(_settings(ray_num_cpus=3), detected=16) == 3


def test_on_a_small_cluster_serving_shrinks_so_every_kind_of_work_still_fits() -> None:
    plan = plan_resources(_settings(model_serving="replicas", ingress_replicas=1),
                          Resources(cpus=2.0))
    assert plan.serving_cpus == pytest.approx(0.78)  # 3 × 0.26: 40% of the cluster
    plan.check_serving()
    plan.check_snapshot()
    plan.check_training(num_workers=1, gpu=False)
    assert plan.train_worker_cpus == pytest.approx(0.97)
    assert plan.snapshot_parallelism == 2


def test_explicit_sizes_are_kept_and_checked() -> None:
    settings = _settings(ingress_num_cpus=1, model_num_cpus=1, encoder_num_cpus=1,
                         snapshot_task_cpus=0.75, train_worker_cpus=2, train_data_cpus=0.5,
                         model_serving="replicas", ingress_replicas=1)
    plan = plan_resources(settings, Resources(cpus=3.5))
    assert (plan.serving_cpus, plan.snapshot_task_cpus) == (3.0, 0.75)
    with pytest.raises(InsufficientResourcesError, match="PULSE_SNAPSHOT_TASK_CPUS"):
        plan.check_snapshot()
    with pytest.raises(ValidationError) as refused:
        plan.check_training(num_workers=1, gpu=False)
    assert refused.value.details[0].field == "options.num_workers"
    assert "2.5 CPU" in refused.value.details[0].message
    with pytest.raises(InsufficientResourcesError, match="PULSE_INGRESS_NUM_CPUS"):
        plan_resources(settings, Resources(cpus=2.0)).check_serving()


def test_gpus_are_checked_for_serving_and_training() -> None:
    plan = plan_resources(_settings(model_num_gpus=1), Resources(cpus=8.0))
    assert plan.replica("ModelServer").gpus == 1  # GPUs: models on their own replicas
    with pytest.raises(InsufficientResourcesError, match="GPU"):
        plan.check_serving()
    plan = plan_resources(_settings(), Resources(cpus=8.0, gpus=1))
    plan.check_training(num_workers=1, gpu=True)
    with pytest.raises(ValidationError) as refused:
        plan.check_training(num_workers=2, gpu=True)
    assert refused.value.details[0].field == "options.gpu"


def test_pinned_settings_keep_the_planned_replica_sizes_on_a_grown_cluster() -> None:
    settings = _settings()
    small = plan_resources(settings, Resources(cpus=2.0))
    grown = plan_resources(small.pinned(settings), Resources(cpus=32.0))
    assert grown.serving_cpus == small.serving_cpus
    assert grown.train_worker_cpus == 1.0 and grown.snapshot_task_cpus == 0.5


def test_the_plan_describes_itself_in_lines() -> None:
    lines = plan_resources(_settings(), Resources(cpus=4.0)).describe()
    assert lines[0] == "cluster: 4 CPU, 0 GPU"
    assert "ingress 2 × 0.5" in lines[1] and "TextEncoder" in lines[1]
    assert "up to 2 worker(s)" in lines[3]
