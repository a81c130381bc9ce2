"""`pulse secrets`: the key that seals the store's secrets, straight on the store."""

from __future__ import annotations

from typing import Annotated

import typer

from pulse_ray.cli.output import out_console
from pulse_ray.config import get_settings
from pulse_ray.services.secrets import rotate_key

app = typer.Typer(help="The store's secret keys.", no_args_is_help=True)


@app.command("rotate-key")
def rotate_key_(
    drop_old: Annotated[bool, typer.Option(
        "--drop-old", help="Key file only: keep just the new key afterwards (with the "
        "service stopped, or once every process has restarted).")] = False,
) -> None:
    """Re-seal every datasource password and webhook secret with a new key."""
    settings = get_settings()
    settings.ensure_dirs()
    rotation = rotate_key(settings, drop_old=drop_old)
    out_console.print(f"Re-sealed {rotation.resealed} secret(s) with the new key.")
    if rotation.from_setting:
        out_console.print("The keys are PULSE_SECRET_KEYS: the first sealed them; remove the "
                          "others from it once every process has restarted.")
    elif rotation.keys_kept > 1:
        out_console.print(f"{rotation.keys_kept - 1} older key(s) still open; run again with "
                          "--drop-old once every Pulse process has restarted.")
