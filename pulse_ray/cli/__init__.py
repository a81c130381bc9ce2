"""The ``pulse`` command line (typer + rich).

The client commands, which talk to the service through the SDK, are imported here;
the commands that run or manage the service come from :mod:`.server_extra`, imported
only when run, so the plain package (no server extra) has a working CLI.
"""

from __future__ import annotations

from typing import Any

import pydantic
import typer
from typer.core import TyperGroup

from pulse_ray.cli import auth, models, webhooks
from pulse_ray.cli.infer import infer, lineage
from pulse_ray.cli.output import print_error
from pulse_ray.cli.server_extra import SERVER_COMMANDS, missing_extra
from pulse_ray.cli.shop import products_app, session
from pulse_ray.cli.snapshot import snapshot, snapshots_app
from pulse_ray.cli.train import runs_app, train
from pulse_ray.errors import PulseError, ValidationError

__all__ = ["app", "main"]


class _PulseGroup(TyperGroup):
    """Every command's Pulse errors print the envelope's message and details, exit 1;
    a server command run without the server extra prints which extra to install."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for command in SERVER_COMMANDS:
            self.add_command(command)

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context type is private
        try:
            return super().invoke(ctx)
        except PulseError as error:
            print_error(error)
            raise typer.Exit(1) from None
        except pydantic.ValidationError as error:  # options typer accepts, the schema not
            print_error(ValidationError.from_pydantic(error.errors()))
            raise typer.Exit(1) from None
        except ModuleNotFoundError as error:
            message = missing_extra(ctx.invoked_subcommand, error)
            if message is None:
                raise
            typer.echo(message, err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_PulseGroup,
    help="Pulse on Ray: snapshot, train, serve and trace ML models.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
# Talk to the running service through the SDK (key: PULSE_API_KEY or `pulse auth login`).
# serve, keys, db, datasources and demo: see server_extra.
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
