"""The ``pulse`` command line (typer + rich)."""

from __future__ import annotations

from typing import Any

import pydantic
import typer
from typer.core import TyperGroup

from pulse_ray.cli import auth, datasources, db, demo, keys, models, webhooks
from pulse_ray.cli.infer import infer, lineage
from pulse_ray.cli.output import print_error
from pulse_ray.cli.serve import serve
from pulse_ray.cli.shop import products_app, session
from pulse_ray.cli.snapshot import snapshot, snapshots_app
from pulse_ray.cli.train import runs_app, train
from pulse_ray.errors import PulseError, ValidationError

__all__ = ["app", "main"]


class _PulseGroup(TyperGroup):
    """Every command's Pulse errors print the envelope's message and details, exit 1."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context type is private
        try:
            return super().invoke(ctx)
        except PulseError as error:
            print_error(error)
            raise typer.Exit(1) from None
        except pydantic.ValidationError as error:  # options typer accepts, the schema not
            print_error(ValidationError.from_pydantic(error.errors()))
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_PulseGroup,
    help="Pulse on Ray: snapshot, train, serve and trace ML models.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
# Run the service; manage its local store (keys, schema, datasources, demo data).
app.command()(serve)
app.add_typer(keys.app, name="keys")
app.add_typer(db.app, name="db")
app.add_typer(datasources.app, name="datasources")
app.add_typer(demo.app, name="demo")
# Talk to the running service through the SDK (key: PULSE_API_KEY or `pulse auth login`).
app.add_typer(auth.app, name="auth")
app.command()(snapshot)
app.add_typer(snapshots_app, name="snapshots")
app.add_typer(models.app, name="models")
app.command()(train)
app.add_typer(runs_app, name="runs")
app.command()(infer)
app.command()(lineage)
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(products_app, name="products")
app.command()(session)


def main() -> None:
    """Console-script entry point."""
    app()
