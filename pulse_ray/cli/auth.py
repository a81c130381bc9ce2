"""`pulse auth login`: check a key against the service and remember it for the CLI."""

from __future__ import annotations

from typing import Annotated

import typer

from pulse_ray.apikeys import parse_secret
from pulse_ray.cli import service
from pulse_ray.cli.output import JsonOption, out_console, print_json
from pulse_ray.credentials import Credentials, save_credentials
from pulse_ray.sdk import DEFAULT_BASE_URL, Pulse

app = typer.Typer(help="Log the CLI in with an API key; show the key it uses.",
                  no_args_is_help=True)


@app.command()
def login(
    base_url: Annotated[
        str, typer.Option(envvar="PULSE_BASE_URL", help="The Pulse service.")
    ] = DEFAULT_BASE_URL,
    key: Annotated[
        str | None, typer.Option(help="The key; asked for (hidden) when omitted.")
    ] = None,
) -> None:
    """Ask for a key, check it with GET /v1/auth/whoami, save it (mode 0600)."""
    secret = (key or typer.prompt("API key", hide_input=True)).strip()
    parse_secret(secret)  # a typo is caught here, before any request
    with Pulse(secret, base_url=base_url) as client:
        me = client.whoami()
    path = save_credentials(Credentials(api_key=secret, base_url=base_url))
    out_console.print(f"Logged in as {me.name} ({me.id}, plan {me.plan}); key saved to {path}.")


@app.command()
def whoami(json_output: JsonOption = False) -> None:
    """The key the CLI uses: its name, plan, scopes and limits."""
    with service.client() as client:
        me = client.whoami()
    if json_output:
        print_json(me)
        return
    out_console.print(f"{me.name} ({me.id}), plan {me.plan}, scopes {', '.join(me.scopes)}; "
                      f"at {client.base_url}", highlight=False)
