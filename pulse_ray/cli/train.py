"""`pulse train` starts a run and follows it live; `pulse runs` looks at runs later."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from pulse_ray.cli import service
from pulse_ray.cli.output import JsonOption, err_console, out_console, print_json
from pulse_ray.schemas.training import RunDetail
from pulse_ray.sdk import Pulse
from pulse_ray.timeutil import format_timestamp

__all__ = ["follow_run", "report_run", "runs_app", "train"]

runs_app = typer.Typer(help="Show, follow and cancel training runs.", no_args_is_help=True)

RunArgument = Annotated[str, typer.Argument(help="The run_… id.")]
PollOption = Annotated[float, typer.Option(min=0.1, help="Seconds between looks at the run.")]
# What a line per epoch shows, in this order, when the run reports it.
_EPOCH_METRICS = ("linear_validation_loss", "mlp_validation_loss", "f1_score", "accuracy",
                  "r2")
_LOG_LINES = 20


class DeployPolicy(StrEnum):
    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


def _epoch_line(entry: dict[str, float], total: int | None) -> str:
    number = int(entry.get("epoch", 0)) + 1
    metrics = "  ".join(f"{k} {entry[k]:.4f}" for k in _EPOCH_METRICS if k in entry)
    return f"epoch {number}/{total or '?'}  {metrics}"


def follow_run(client: Pulse, run_id: str, *, poll_s: float) -> RunDetail:
    """Polls the run until it ends, drawing a progress bar by epochs (on stderr, so
    stdout stays clean for --json) and a line per finished epoch."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TextColumn("epochs"), TimeElapsedColumn())
    with Progress(*columns, console=err_console) as progress:
        task = progress.add_task(run_id, total=None)
        shown = 0

        def update(run: RunDetail) -> None:
            nonlocal shown
            for entry in run.epochs[shown:]:
                progress.console.print(_epoch_line(entry, run.options.epochs), highlight=False)
            shown = len(run.epochs)
            progress.update(task, total=run.options.epochs, completed=shown,
                            description=f"{run.id} {run.status}")

        try:
            return client.wait_for_run(run_id, poll_s=poll_s, on_update=update)
        except KeyboardInterrupt:
            progress.stop()
            err_console.print(f"Stopped following; the run goes on. `pulse runs watch "
                              f"{run_id}` follows it again, `pulse runs cancel {run_id}` "
                              "stops it.", highlight=False)
            raise typer.Exit(130) from None


def report_run(run: RunDetail, *, json_output: bool, logs: bool = False) -> None:
    """Prints the run; a run that failed or was cancelled exits 1."""
    if json_output:
        print_json(run)
    else:
        out_console.print(f"{run.id} ({run.model} on {run.snapshot}): {run.status}",
                          highlight=False)
        if run.version:
            out_console.print(f"  version {run.version}", highlight=False)
        if run.metrics:
            out_console.print("  " + "  ".join(f"{k} {v:.4f}" for k, v in
                                               sorted(run.metrics.items())), highlight=False)
        if run.completed_at:
            out_console.print(f"  completed {format_timestamp(run.completed_at)}",
                              highlight=False)
        if run.error:
            err_console.print(f"[bold red]error[/]: {run.error}", highlight=False)
        if run.logs and (logs or run.status == "failed"):
            tail = run.logs.rstrip().splitlines()[-_LOG_LINES:]
            err_console.print("\n".join(["  … job log:", *tail]), highlight=False,
                              markup=False)
    if run.status in ("failed", "cancelled"):
        raise typer.Exit(1)


def train(
    model: Annotated[str, typer.Argument(help="The model to train, e.g. fraud-detector.")],
    snapshot: Annotated[str, typer.Option("--snapshot", "-s", help="The snap_… to train on.")],
    epochs: Annotated[int | None, typer.Option(min=1, help="Passes over the data.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Ray Train workers.")] = None,
    gpu: Annotated[bool, typer.Option(help="Train on GPUs (refused without any).")] = False,
    batch_size: Annotated[int | None, typer.Option(min=16, help="Rows per step.")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Adam's step size.")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Same seed, same run.")] = None,
    deploy: Annotated[DeployPolicy | None, typer.Option(
        help="auto: deploy if F1 beats the deployed version's (server default).")] = None,
    notify: Annotated[bool, typer.Option(
        help="Send training.completed / training.failed webhooks.")] = False,
    detach: Annotated[bool, typer.Option(help="Print the run and return at once.")] = False,
    poll: PollOption = 1.0,
    json_output: JsonOption = False,
) -> None:
    """Start a training run (a Ray Job) and follow it until it ends.

    Exits 1 if the run fails or is cancelled; --detach returns at once.
    """
    options: dict[str, Any] = {
        k: v for k, v in {
            "epochs": epochs, "num_workers": workers, "batch_size": batch_size,
            "learning_rate": learning_rate, "seed": seed,
            "deploy": deploy.value if deploy else None,
            "gpu": gpu or None, "notify_on_complete": notify or None,
        }.items() if v is not None
    }
    with service.client() as client:
        started = client.train(model, snapshot, options=options)
        if detach:
            if json_output:
                print_json(started)
            else:
                out_console.print(f"{started.id}: {started.status}. Follow it with `pulse "
                                  f"runs watch {started.id}`.", highlight=False)
            return
        if not json_output:
            err_console.print(f"Started {started.id} ({model} on {snapshot}).",
                              highlight=False)
        run = follow_run(client, started.id, poll_s=poll)
    report_run(run, json_output=json_output)


@runs_app.command()
def show(
    run_id: RunArgument,
    logs: Annotated[bool, typer.Option(help="Print the job's log tail.")] = False,
    json_output: JsonOption = False,
) -> None:
    """A run: status, version, metrics, error; exits 1 if it failed or was cancelled."""
    with service.client() as client:
        run = client.get_run(run_id)
    if not json_output and run.epochs:
        for entry in run.epochs:
            out_console.print(_epoch_line(entry, run.options.epochs), highlight=False)
    report_run(run, json_output=json_output, logs=logs)


@runs_app.command()
def watch(run_id: RunArgument, poll: PollOption = 1.0, json_output: JsonOption = False) -> None:
    """Follow a run until it ends, as `pulse train` does."""
    with service.client() as client:
        run = follow_run(client, run_id, poll_s=poll)
    report_run(run, json_output=json_output)


@runs_app.command()
def cancel(run_id: RunArgument, json_output: JsonOption = False) -> None:
    """Stop a run's Ray job."""
    with service.client() as client:
        run = client.cancel_run(run_id)
    if json_output:
        print_json(run)
    else:
        out_console.print(f"Cancelled {run.id}.", highlight=False)
