"""`pulse db`: the metadata store's schema."""

from __future__ import annotations

import typer

from pulse_ray.cli.output import out_console
from pulse_ray.config import get_settings
from pulse_ray.store import Database, upgrade
from pulse_ray.store.migrate import current_revision

app = typer.Typer(help="Metadata store schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_() -> None:
    """Apply pending migrations (`pulse serve` does this on start)."""
    settings = get_settings()
    settings.ensure_dirs()
    database = Database.from_settings(settings, create_key=True)
    try:
        upgrade(database)
        out_console.print(f"{database.safe_url} is at revision {current_revision(database)}.")
    finally:
        database.dispose()
