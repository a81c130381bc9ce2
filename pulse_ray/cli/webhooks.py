"""`pulse webhooks`: subscriptions, their secrets and delivery log, through the service."""

from __future__ import annotations

from typing import Annotated

import typer

from pulse_ray.cli import service
from pulse_ray.cli.output import JsonOption, err_console, out_console, print_json, table
from pulse_ray.schemas.webhooks import WebhookPublic
from pulse_ray.timeutil import format_timestamp

app = typer.Typer(help="Subscribe URLs to events; rotate secrets; inspect and retry "
                  "deliveries.", no_args_is_help=True)

WebhookArgument = Annotated[str, typer.Argument(help="The wh_… id.")]
EventOption = Annotated[list[str] | None, typer.Option(
    "--event", help="training.completed, training.failed, model.updated, snapshot.created, "
    "products.tagged, session.converted; repeat for several.")]


def _show(webhook: WebhookPublic) -> None:
    state = "enabled" if webhook.enabled else f"disabled ({webhook.disabled_reason or 'by you'})"
    out_console.print(f"{webhook.id} {webhook.url} [{', '.join(webhook.events)}] {state}",
                      highlight=False, markup=False)


@app.command()
def create(
    url: Annotated[str, typer.Argument(help="Where to POST events.")],
    event: EventOption = None,
    description: Annotated[str | None, typer.Option()] = None,
    json_output: JsonOption = False,
) -> None:
    """Subscribe a URL; prints the signing secret, once."""
    with service.client() as client:
        created = client.create_webhook(url, event or [], description=description)
    if json_output:
        print_json(created)
        return
    _show(created)
    typer.echo(created.secret)
    err_console.print("This is the only time the secret is shown: store it now.")


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(min=1, max=100)] = 100,
    json_output: JsonOption = False,
) -> None:
    """Webhooks, newest first."""
    with service.client() as client:
        webhooks = client.list_webhooks(limit=limit).data
    if json_output:
        print_json(webhooks)
        return
    table("Webhooks", ["id", "url", "events", "enabled", "created"], [
        (w.id, w.url, ", ".join(w.events), "yes" if w.enabled else f"no: {w.disabled_reason}",
         format_timestamp(w.created_at)) for w in webhooks])


@app.command()
def show(webhook_id: WebhookArgument, json_output: JsonOption = False) -> None:
    """One webhook."""
    with service.client() as client:
        found = client.get_webhook(webhook_id)
    print_json(found) if json_output else _show(found)


@app.command()
def update(
    webhook_id: WebhookArgument,
    url: Annotated[str | None, typer.Option()] = None,
    event: EventOption = None,
    enable: Annotated[bool | None, typer.Option(
        "--enable/--disable", help="--enable also re-enables one Pulse disabled.")] = None,
    description: Annotated[str | None, typer.Option()] = None,
    json_output: JsonOption = False,
) -> None:
    """Change a webhook's URL, events or description; enable or disable it."""
    with service.client() as client:
        updated = client.update_webhook(webhook_id, url=url, events=event or None,
                                        enabled=enable, description=description)
    print_json(updated) if json_output else _show(updated)


@app.command()
def delete(webhook_id: WebhookArgument, json_output: JsonOption = False) -> None:
    """Delete a webhook and its pending deliveries."""
    with service.client() as client:
        client.delete_webhook(webhook_id)
    if json_output:
        print_json({"id": webhook_id, "deleted": True})
    else:
        out_console.print(f"Deleted {webhook_id}.", highlight=False)


@app.command("rotate-secret")
def rotate_secret(webhook_id: WebhookArgument, json_output: JsonOption = False) -> None:
    """A new signing secret; the old one keeps signing for an overlap."""
    with service.client() as client:
        rotated = client.rotate_webhook_secret(webhook_id)
    if json_output:
        print_json(rotated)
        return
    typer.echo(rotated.secret)
    err_console.print(f"The previous secret also signs until "
                      f"{format_timestamp(rotated.previous_secret_expires_at)}.")


@app.command()
def test(webhook_id: WebhookArgument, json_output: JsonOption = False) -> None:
    """Send a webhook.ping to this webhook."""
    with service.client() as client:
        sent = client.test_webhook(webhook_id)
    if json_output:
        print_json(sent)
    else:
        out_console.print(f"Queued {sent.message_id}; see `pulse webhooks deliveries "
                          f"{webhook_id}`.", highlight=False)


@app.command()
def deliveries(
    webhook_id: WebhookArgument,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    json_output: JsonOption = False,
) -> None:
    """Every delivery attempt, newest first."""
    with service.client() as client:
        log = client.list_webhook_deliveries(webhook_id, limit=limit)
    if json_output:
        print_json(log)
        return
    table(f"{webhook_id} deliveries",
          ["when", "message", "event", "attempt", "status", "ms", "delivery", "next retry"], [
              (format_timestamp(a.created_at), a.message_id, a.event, a.attempt,
               a.status_code if a.status_code is not None else a.error, f"{a.latency_ms:.0f}",
               a.delivery_status, a.next_retry_at and format_timestamp(a.next_retry_at))
              for a in log.data])


@app.command()
def retry(
    webhook_id: WebhookArgument,
    message_id: Annotated[str, typer.Argument(help="The msg_… to send again.")],
    json_output: JsonOption = False,
) -> None:
    """Send a message to this webhook again, now."""
    with service.client() as client:
        sent = client.retry_webhook_delivery(webhook_id, message_id)
    if json_output:
        print_json(sent)
    else:
        out_console.print(f"Queued {sent.message_id} again.", highlight=False)
