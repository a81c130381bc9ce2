"""`pulse keys`: manage API keys straight in the store (how the first key is made)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from pulse_ray.auth import Scope
from pulse_ray.cli.context import store_session
from pulse_ray.cli.output import JsonOption, err_console, out_console, print_json, table
from pulse_ray.errors import ValidationError
from pulse_ray.plans import Plan
from pulse_ray.schemas.keys import ApiKeyCreate, ApiKeyCreated
from pulse_ray.store import keys as repo
from pulse_ray.timeutil import format_timestamp, utcnow

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)

AccountOption = Annotated[str, typer.Option(help="The account the key belongs to.")]


@app.command()
def create(
    name: Annotated[str, typer.Option(help="A label for people.")],
    plan: Annotated[Plan, typer.Option(help="Plan whose limits apply.")] = Plan.FREE,
    scope: Annotated[
        list[Scope] | None,
        typer.Option(help="Repeat for several; default read + write. admin manages keys."),
    ] = None,
    account: AccountOption = "default",
    limits: Annotated[
        str | None,
        typer.Option(
            help="Enterprise only, JSON: one budget for the key, e.g. "
            '\'{"requests": 6000, "per": "minute", "burst": 500}\', or limits per family, '
            'e.g. \'{"inference": {"requests": 2000, "per": "second"}, "tagging": '
            '"unlimited"}\' (families left out keep the plan\'s).',
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Create a key and print its secret, once."""
    fields: dict[str, Any] = {"name": name, "plan": plan}
    if scope:
        fields["scopes"] = scope
    if limits is not None:
        try:
            fields["limits"] = json.loads(limits)
        except ValueError as exc:
            raise ValidationError.for_field("limits", f"is not valid JSON: {exc}") from exc
    body = ApiKeyCreate.model_validate(fields)
    with store_session() as session:
        key, secret = repo.create_key(
            session=session, key_create=body, account=account, now=utcnow()
        )
        created = ApiKeyCreated.issued(key, secret)
    if json_output:
        print_json(created)
        return
    scopes = ", ".join(created.scopes)
    out_console.print(f"Created {created.id} ({created.name}, plan {created.plan}, {scopes}):")
    typer.echo(secret)
    err_console.print("This is the only time the key is shown: store it now.")


@app.command("list")
def list_(
    account: AccountOption = "default",
    limit: Annotated[int, typer.Option(min=1, max=100)] = 100,
    json_output: JsonOption = False,
) -> None:
    """List the account's keys, newest first."""
    with store_session() as session:
        rows, _ = repo.list_keys(session=session, account=account, limit=limit)
        keys = [r.public() for r in rows]
    if json_output:
        print_json(keys)
        return
    table(
        "API keys",
        ["id", "name", "plan", "scopes", "prefix", "created", "revoked"],
        [
            (
                k.id, k.name, k.plan.value, ",".join(k.scopes), k.prefix + "…",
                format_timestamp(k.created_at),
                k.revoked_at and format_timestamp(k.revoked_at),
            )
            for k in keys
        ],
    )


@app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key_… id (see `pulse keys list`).")],
    account: AccountOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Revoke a key; every replica refuses it within a second."""
    with store_session() as session:
        key = repo.revoke_key(session=session, key_id=key_id, account=account,
                              now=utcnow()).public()
    if json_output:
        print_json(key)
    else:
        out_console.print(f"Revoked {key.id} ({key.name}).")
