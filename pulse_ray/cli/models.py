"""`pulse models`: the registry, through the service."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from pulse_ray.cli import service
from pulse_ray.cli.output import JsonOption, out_console, print_json, table
from pulse_ray.models.families import CLASSIFIER, REGRESSOR
from pulse_ray.schemas.models import ModelPublic, VersionPublic
from pulse_ray.schemas.rollouts import RolloutPublic
from pulse_ray.timeutil import format_timestamp

app = typer.Typer(help="Create and list models; deploy, roll back and trace their versions.",
                  no_args_is_help=True)

ModelArgument = Annotated[str, typer.Argument(help="The model's name, e.g. fraud-detector.")]


class Family(StrEnum):
    CLASSIFIER = CLASSIFIER
    REGRESSOR = REGRESSOR


_METRICS = ("f1_score", "accuracy", "roc_auc", "r2")


def _show_model(model: ModelPublic) -> None:
    features = ", ".join(model.feature_columns) if model.feature_columns else "all but the label"
    out_console.print(
        f"{model.name} ({model.family}): predicts {model.label_column} from {features}; "
        f"deployed: {model.deployed_version or 'none'}", highlight=False)
    for column, constraint in model.constraints.items():
        out_console.print(f"  {column}: {json.dumps(constraint.model_dump())}", highlight=False)


def _show_version(version: VersionPublic, verb: str) -> None:
    out_console.print(f"{verb} {version.version} ({version.status}, from {version.run}).",
                      highlight=False)


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(min=1, max=100)] = 100,
    json_output: JsonOption = False,
) -> None:
    """Models, newest first, with the version each serves."""
    with service.client() as client:
        models = client.list_models(limit=limit).data
    if json_output:
        print_json(models)
        return
    table("Models", ["name", "family", "label", "deployed", "created"], [
        (m.name, m.family, m.label_column, m.deployed_version, format_timestamp(m.created_at))
        for m in models])


@app.command()
def show(model: ModelArgument, json_output: JsonOption = False) -> None:
    """One model and its data contract."""
    with service.client() as client:
        found = client.get_model(model)
    print_json(found) if json_output else _show_model(found)


@app.command()
def create(
    name: ModelArgument,
    label_column: Annotated[str, typer.Option(help="The column to predict.")],
    family: Annotated[Family | None, typer.Option(
        help="tabular-classifier (the default) predicts a class, tabular-regressor a "
        "number.")] = None,
    feature_column: Annotated[list[str] | None, typer.Option(
        help="Repeat for several; default: every column but the label and ids.")] = None,
    constraints: Annotated[str | None, typer.Option(
        help='Per-column constraints as a JSON object (or @file.json), e.g. '
        '\'{"transaction_amount": {"exclusive_minimum": 0}, "country": {"required": true}}\'.'
    )] = None,
    description: Annotated[str | None, typer.Option()] = None,
    json_output: JsonOption = False,
) -> None:
    """Create a model (a classifier or a regressor) to train on snapshots."""
    contract = service.json_argument(constraints, field="constraints") if constraints else None
    with service.client() as client:
        created = client.create_model(name, label_column=label_column,
                                      family=family and family.value,
                                      feature_columns=feature_column, constraints=contract,
                                      description=description)
    print_json(created) if json_output else _show_model(created)


@app.command()
def versions(model: ModelArgument, json_output: JsonOption = False) -> None:
    """A model's versions, newest first, with their validation metrics."""
    with service.client() as client:
        found = client.list_versions(model)
    if json_output:
        print_json(found)
        return
    table(f"{found.model} versions", ["version", "status", *_METRICS, "run", "created"], [
        (v.version, v.status, *(_metric(v, k) for k in _METRICS), v.run,
         format_timestamp(v.created_at)) for v in found.versions])


def _metric(version: VersionPublic, name: str) -> str | None:
    value = version.metrics.get(name)
    return None if value is None else f"{value:.4f}"


def _show_rollout(rollout: RolloutPublic) -> None:
    out_console.print(
        f"{rollout.id}: {rollout.candidate_version} against {rollout.stable_version}, "
        f"{rollout.status} at {rollout.step}% (steps {rollout.steps}, "
        f"{rollout.interval_s:g} s each){': ' + rollout.reason if rollout.reason else ''}",
        highlight=False)
    if rollout.shadow is not None:
        s = rollout.shadow
        out_console.print(f"shadow ({rollout.strategy}): {s.compared} compared, {s.errors} "
                          f"failed, agreement {s.agreement_rate}, mean |confidence diff| "
                          f"{s.mean_abs_confidence_diff}, p50 {s.p50_ms} ms, p99 {s.p99_ms} ms",
                          highlight=False)
    table("This window", ["arm", "version", "requests", "errors", "error rate", "p50 ms",
                          "p99 ms"], [
        (arm, a.version, a.requests, a.errors, f"{a.error_rate:.4f}", a.p50_ms, a.p99_ms)
        for arm, a in rollout.arms.items()])


@app.command()
def deploy(
    model: ModelArgument,
    version: Annotated[str, typer.Argument(help="e.g. 1.0.0-def456 (see `versions`).")],
    canary: Annotated[bool, typer.Option(
        "--canary", help="Step traffic over to it, judged against the deployed version "
        "(`pulse models rollout` follows it); options left out come from the service's "
        "settings.")] = False,
    shadow: Annotated[bool, typer.Option(
        "--shadow", help="Send it copies of requests only and report how often it agrees "
        "with the deployed version; `pulse models rollout MODEL promote` starts its "
        "canary.")] = False,
    steps: Annotated[str | None, typer.Option(help="Canary steps in percent, e.g. "
                                              "5,25,50,100.")] = None,
    interval_s: Annotated[float | None, typer.Option(help="Seconds per step.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Serve a version at once (the one deployed before is archived), or --canary."""
    with service.client() as client:
        if not canary and not shadow:
            deployed = client.deploy_version(model, version)
            print_json(deployed) if json_output else _show_version(deployed, "Deployed")
            return
        try:
            shares = [int(s) for s in steps.split(",")] if steps else None
        except ValueError:
            raise typer.BadParameter("a comma-separated list of percentages",
                                     param_hint="--steps") from None
        started = client.start_rollout(model, version, strategy="shadow" if shadow else "canary",
                                       steps=shares, interval_s=interval_s)
    print_json(started) if json_output else _show_rollout(started)


class RolloutAction(StrEnum):
    SHOW = "show"
    PROMOTE = "promote"
    ABORT = "abort"


@app.command()
def rollout(
    model: ModelArgument,
    action: Annotated[RolloutAction, typer.Argument(
        help="show the running (else the last) rollout, promote its candidate now, or "
        "abort it.")] = RolloutAction.SHOW,
    json_output: JsonOption = False,
) -> None:
    """A model's rollout: its step and each arm's figures (a shadow's agreement);
    promote (a shadow: to its canary) or abort it."""
    with service.client() as client:
        found = {RolloutAction.SHOW: client.get_rollout,
                 RolloutAction.PROMOTE: client.promote_rollout,
                 RolloutAction.ABORT: client.abort_rollout}[action](model)
    print_json(found) if json_output else _show_rollout(found)


@app.command()
def rollback(model: ModelArgument, json_output: JsonOption = False) -> None:
    """Go back to the version deployed before the current one."""
    with service.client() as client:
        restored = client.rollback_model(model)
    print_json(restored) if json_output else _show_version(restored, "Rolled back to")


@app.command()
def timeline(model: ModelArgument, json_output: JsonOption = False) -> None:
    """What was live when: each deployed version, why, its drift and feedback accuracy."""
    with service.client() as client:
        found = client.get_model_timeline(model)
    if json_output:
        print_json(found)
        return
    table(f"{found.model} timeline", ["from", "to", "version", "reason", "drift windows",
                                      "max PSI", "labelled", "accuracy"], [
        (format_timestamp(p.started_at),
         format_timestamp(p.ended_at) if p.ended_at else "live", p.version, p.reason,
         f"{p.drift.drift}/{p.drift.judged}", p.drift.max_psi, p.outcomes.labelled,
         p.outcomes.accuracy if p.outcomes.accuracy is not None else p.outcomes.mae)
        for p in found.periods])


@app.command()
def history(model: ModelArgument, json_output: JsonOption = False) -> None:
    """Every deploy and rollback, newest first."""
    with service.client() as client:
        found = client.get_model_history(model)
    if json_output:
        print_json(found)
        return
    table(f"{found.model} history", ["when", "action", "from", "to", "by", "reason"], [
        (format_timestamp(e.created_at), e.action, e.from_version, e.to_version, e.by, e.reason)
        for e in found.events])
