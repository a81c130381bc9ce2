"""What `pulse demo shop` asks of the running service: a key to call it with, a
snapshot of the sessions the demo wrote, and the persona model trained on it and
deployed, so the seed's requests answer as soon as the command returns.

The key is the user's (``PULSE_API_KEY``, else the `pulse auth login` one) when they
have one. A new user has none yet, so the demo makes one in the local store (the
store it writes the catalog and datasource into, which the service must share anyway)
and saves it as the CLI's login: a second run, and every other `pulse` command, then
use that key instead of making another. The service is where the SDK looks
(``PULSE_BASE_URL``, the login's URL, else http://127.0.0.1:8000); it is asked first,
before minutes of tagging, so a service that is not running is reported at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pulse_ray.auth import Scope
from pulse_ray.cli import service
from pulse_ray.cli.context import store_session
from pulse_ray.cli.output import err_console, out_console
from pulse_ray.cli.train import follow_run, report_run
from pulse_ray.credentials import Credentials, save_credentials
from pulse_ray.errors import PulseError, UnauthorizedError, UnavailableError
from pulse_ray.plans import Plan
from pulse_ray.schemas.keys import ApiKeyCreate
from pulse_ray.schemas.snapshots import SnapshotPublic
from pulse_ray.sdk import Pulse
from pulse_ray.store import keys as key_repo
from pulse_ray.timeutil import utcnow

__all__ = ["DEMO_KEY_NAME", "Deployed", "MadeKey", "connect", "deploy_model",
           "print_made_key", "print_next_steps"]

DEMO_KEY_NAME = "shop-demo"


@dataclass(frozen=True, slots=True)
class MadeKey:
    """The key the demo made because the user had none; its secret is shown once."""

    id: str
    secret: str
    saved_to: Path


@dataclass(frozen=True, slots=True)
class Deployed:
    """The persona model the demo left serving, and what it was trained on."""

    model: str
    version: str
    snapshot: SnapshotPublic
    run: str | None  # None: a version trained on this snapshot before is deployed already


def _make_key(*, account: str, base_url: str) -> MadeKey:
    """A seed 002 plan (starter: the inference and tagging limits the shop sells),
    read and write, saved as the CLI's login for ``base_url``."""
    with store_session() as session:
        key, secret = key_repo.create_key(
            session=session, account=account, now=utcnow(), key_create=ApiKeyCreate(
                name=DEMO_KEY_NAME, plan=Plan.STARTER, scopes=[Scope.READ, Scope.WRITE]))
        key_id = key.id
    path = save_credentials(Credentials(api_key=secret, base_url=base_url))
    return MadeKey(id=key_id, secret=secret, saved_to=path)


def connect(*, account: str) -> tuple[Pulse, MadeKey | None]:
    """A client the running service has answered, with the user's key or one made (and
    shown) for the demo, then also returned.

    Raises:
        UnavailableError: nothing answers where the SDK looks; says how to start it.
        UnauthorizedError: the service does not know the key (for a key the demo made:
            the service runs on another store).
    """
    client = service.client()
    made = None
    if not client.api_key:
        client.close()
        made = _make_key(account=account, base_url=client.base_url)
        print_made_key(made)  # now: the login holds it even if the service is not up yet
        client = service.client(made.secret)
    try:
        client.whoami()
    except UnavailableError as error:
        client.close()
        raise UnavailableError(
            f"{error.message}. Start the service first (`make run` or `pulse serve`, in "
            "another shell) and run `pulse demo shop` again, or pass --no-train to only "
            "write the demo data.") from None
    except UnauthorizedError:
        client.close()
        if made is None:
            raise
        raise UnauthorizedError(
            f"The service at {client.base_url} does not know the key the demo made in the "
            "local store: run the demo with the service's PULSE_DATA_DIR (or "
            "PULSE_STORE_URL).") from None
    return client, made


def _snapshot(client: Pulse, datasource: str) -> SnapshotPublic:
    """The datasource's snapshot: a new one, or the latest when nothing changed."""
    latest = client.list_snapshots(datasource=datasource, limit=1).data
    with err_console.status(f"Snapshotting {datasource}…"):
        snapshot = client.create_snapshot(datasource)
    unchanged = bool(latest) and latest[0].id == snapshot.id
    out_console.print(
        f"{'Unchanged since' if unchanged else 'Snapshotted'} {snapshot.id}: "
        f"{snapshot.rows:,} sessions, {snapshot.hash}.", highlight=False)
    return snapshot


def deploy_model(client: Pulse, *, datasource: str, model: str, epochs: int | None,
                 poll_s: float = 1.0) -> Deployed:
    """Snapshots ``datasource`` and trains ``model`` on it with ``deploy: always`` (the
    demo's data is what should answer), following the run as `pulse train` does; a
    failed run exits 1 with its error and log. Skips training when the deployed version
    was trained on this very snapshot (a second run of an unchanged demo)."""
    snapshot = _snapshot(client, datasource)
    current = client.get_model(model).deployed_version
    if current is not None:
        training = client.lineage(f"{model}:{current}").training
        if training is not None and training.snapshot == snapshot.id:
            out_console.print(f"{model} {current} (trained on {snapshot.id} by "
                              f"{training.id}) is deployed already.", highlight=False)
            return Deployed(model=model, version=current, snapshot=snapshot, run=None)
    options: dict[str, object] = {"deploy": "always"}
    if epochs is not None:
        options["epochs"] = epochs
    started = client.train(model, snapshot.id, options=options)
    err_console.print(f"Training {model} on {snapshot.id} ({started.id}, a Ray job)…",
                      highlight=False)
    run = follow_run(client, started.id, poll_s=poll_s)
    report_run(run, json_output=False)
    deployed = client.get_model(model).deployed_version
    if deployed is None:  # deploy: always; only someone else's rollback in between
        raise PulseError(f"{run.id} succeeded but {model} has no deployed version")
    return Deployed(model=model, version=deployed, snapshot=snapshot, run=run.id)


def print_next_steps(*, base_url: str, deployed: Deployed, examples: tuple[Path, Path],
                     made: MadeKey | None) -> None:
    """The seed's two requests, ready to paste (soft-wrapped: a pipe gets whole lines)."""
    session, products = examples
    lines = [f"{deployed.model} {deployed.version} is deployed. Try the seed's requests:"]
    if made is not None:
        lines.append(f"  export PULSE_API_KEY={made.secret}")
    elif not os.environ.get("PULSE_API_KEY"):
        lines.append("  export PULSE_API_KEY=…   # your key; the pulse commands use the login")
    for route, body in (("/v1/infer", session), ("/v1/products/tag", products)):
        lines.append(f"  curl -s -X POST {base_url.rstrip('/')}{route} -H \"Authorization: "
                     f"Bearer $PULSE_API_KEY\" -H 'Content-Type: application/json' "
                     f"-d @{body}")
    lines += [f"  pulse session @{session}        # the same through the CLI",
              f"  pulse products tag @{products}"]
    out_console.print("\n".join(lines), soft_wrap=True, markup=False, highlight=False)


def print_made_key(made: MadeKey) -> None:
    """Says that a key was made and where it was saved, and shows its secret (the store
    keeps only its hash: this run is the only one that can show it)."""
    out_console.print(
        f"No API key (PULSE_API_KEY or `pulse auth login`), so the demo made {made.id} "
        f"({DEMO_KEY_NAME}, plan {Plan.STARTER.value}, read, write) in the local store and "
        f"saved it as the CLI's login ({made.saved_to}). Its secret:",
        highlight=False, soft_wrap=True)
    out_console.print(made.secret, highlight=False, soft_wrap=True)
