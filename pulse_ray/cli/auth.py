"""`pulse auth login`: sign the CLI in through the dashboard (device flow, as `gh auth
login` does) or with a key the user already has; show the key it uses."""

from __future__ import annotations

import socket
import time
import webbrowser
from typing import Annotated

import httpx
import typer

from pulse_ray.apikeys import parse_secret
from pulse_ray.cli import service
from pulse_ray.cli.output import JsonOption, err_console, out_console, print_json
from pulse_ray.credentials import Credentials, save_credentials
from pulse_ray.errors import PulseError, UnavailableError, from_envelope
from pulse_ray.schemas.device import DeviceCodeIssued, DeviceToken
from pulse_ray.sdk import DEFAULT_BASE_URL, Pulse

app = typer.Typer(help="Log the CLI in (through the dashboard, or with a key); show the "
                  "key it uses.", no_args_is_help=True)


def _checked(response: httpx.Response) -> httpx.Response:
    """The response, or the service's error envelope raised as Pulse's own error."""
    if response.is_success:
        return response
    try:
        body = response.json()
    except ValueError:
        body = None
    raise from_envelope(response.status_code, body, response.headers)


def _device_login(base_url: str, name: str, scopes: list[str], open_browser: bool) -> str:
    """Asks for a code, shows it, polls until the user approves it; the new key."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        issued = DeviceCodeIssued.model_validate(_checked(http.post(
            "/auth/device", json={"name": name, "scopes": scopes})).json())
        out_console.print(f"First copy your one-time code: [bold]{issued.user_code}[/bold]\n"
                          f"Then open {issued.verification_uri} (signed in to the dashboard) "
                          "and approve it.", highlight=False)
        if open_browser:
            webbrowser.open(issued.verification_uri_complete)
        deadline = time.monotonic() + issued.expires_in
        with err_console.status("Waiting for approval in the dashboard…"):
            while time.monotonic() < deadline:
                time.sleep(issued.interval)
                token = DeviceToken.model_validate(_checked(http.post(
                    "/auth/device/token", json={"device_code": issued.device_code})).json())
                if token.status == "approved" and token.key:
                    return token.key
    raise PulseError("The code expired before it was approved: run `pulse auth login` again")


@app.command()
def login(
    base_url: Annotated[
        str, typer.Option(envvar="PULSE_BASE_URL", help="The Pulse service.")
    ] = DEFAULT_BASE_URL,
    with_key: Annotated[bool, typer.Option(
        "--with-key", help="Log in with a key you already have (asked for, hidden), "
        "without the dashboard: for scripts.")] = False,
    key: Annotated[
        str | None, typer.Option(help="The key (implies --with-key).")
    ] = None,
    name: Annotated[str | None, typer.Option(
        help="The new key's name (device login). Default: 'pulse CLI on <host>'.")] = None,
    scope: Annotated[list[str] | None, typer.Option(
        help="The new key's scopes (device login; repeat). Default: read and write.")] = None,
    web: Annotated[bool, typer.Option(
        help="Open the approval page in a browser (device login).")] = False,
) -> None:
    """Sign in through the dashboard: shows a code to approve there, then saves the new
    key (mode 0600). With --with-key/--key: checks a key you have and saves it."""
    if with_key or key is not None:
        secret = (key or typer.prompt("API key", hide_input=True)).strip()
        parse_secret(secret)  # a typo is caught here, before any request
    else:
        try:
            secret = _device_login(base_url, name or f"pulse CLI on {socket.gethostname()}",
                                   scope or ["read", "write"], web)
        except httpx.TransportError as exc:
            raise UnavailableError(f"Cannot reach Pulse at {base_url}: {exc}") from None
    with Pulse(secret, base_url=base_url) as client:
        me = client.whoami()
    path = save_credentials(Credentials(api_key=secret, base_url=base_url))
    out_console.print(f"Logged in as {me.name} ({me.id}, plan {me.plan}, scopes "
                      f"{', '.join(me.scopes)}); key saved to {path}.", highlight=False)


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
