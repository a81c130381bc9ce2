"""`pulse demo`: demo data to try Pulse on."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from pulse_ray.cli import demo_service
from pulse_ray.cli.context import store_database, store_session
from pulse_ray.cli.output import out_console
from pulse_ray.config import get_settings
from pulse_ray.demo.examples import write_examples
from pulse_ray.demo.transactions import TRANSACTIONS_TABLE, load, transactions
from pulse_ray.errors import ConflictError, NotFoundError
from pulse_ray.schemas.datasources import DatasourceCreate, DatasourceType
from pulse_ray.schemas.models import ModelCreate
from pulse_ray.services.datasources import DatasourceService
from pulse_ray.store import datasources as repo
from pulse_ray.store import models as model_repo
from pulse_ray.timeutil import utcnow

app = typer.Typer(help="Demo data.", no_args_is_help=True)

_ACCOUNT = "default"
IntoOption = Annotated[
    str | None,
    typer.Option(help="postgresql://… or a SQLite file (default: demo.db in the data dir)."),
]
SeedOption = Annotated[int, typer.Option(help="Same seed, same data.")]


def _registered(name: str) -> bool:
    with store_session() as session:
        try:
            repo.get_datasource(session=session, name=name, account=_ACCOUNT)
        except NotFoundError:
            return False
        return True


def _target(into: str | None) -> str:
    settings = get_settings()
    settings.ensure_dirs()
    return into or str(settings.data_dir / "demo.db")


def _register(name: str, target: str, table: str, label_column: str) -> None:
    """Registers ``table`` at ``target`` as datasource ``name`` (once)."""
    postgres = target.startswith(("postgresql://", "postgres://"))
    url = postgres or target.startswith("sqlite:///")
    body = DatasourceCreate(
        name=name, type=DatasourceType.POSTGRESQL if postgres else DatasourceType.SQLITE,
        url=target if url else None, path=None if url else target, table=table,
        label_column=label_column)
    with store_database() as database:
        DatasourceService(database=database, clock=utcnow).register(body, account=_ACCOUNT)


@app.command("transactions")
def transactions_(
    rows: Annotated[int, typer.Option(min=100, help="How many transactions.")] = 100_000,
    into: IntoOption = None,
    name: Annotated[str, typer.Option(help="Datasource name to register.")] = "transactions-db",
    if_missing: Annotated[
        bool, typer.Option(help="Do nothing if the datasource already exists.")
    ] = False,
    seed: SeedOption = 7,
) -> None:
    """Generate a card-transactions table (about 1.5% fraud) and register it."""
    registered = _registered(name)
    if registered and if_missing:
        out_console.print(f"Datasource {name} exists; nothing to do.")
        return
    target = _target(into)
    started = time.perf_counter()
    load(transactions(rows, seed=seed), target)
    elapsed = time.perf_counter() - started
    if registered:  # its snapshots stay as they were: they are copies
        out_console.print(f"Wrote {rows:,} transactions in {elapsed:.1f}s; datasource "
                          f"{name} was already registered.")
        return
    _register(name, target, TRANSACTIONS_TABLE, "is_fraud")
    out_console.print(f"Wrote {rows:,} transactions to {target} in {elapsed:.1f}s and "
                      f"registered datasource {name}.")


def _write_shop(*, products: int, sessions: int, target: str, name: str, seed: int) -> None:
    """The catalog tagged into the store, the sessions table at ``target`` registered
    as ``name`` (once), and the persona model (once)."""
    from pulse_ray.demo import shop as demo  # the text model: only for this command
    from pulse_ray.services import shop_demo as loader
    from pulse_ray.services.tagging import Tagger
    from pulse_ray.shop.encoder import LocalEncoder
    from pulse_ray.shop.features import FEATURES

    encoder = LocalEncoder()
    tagger = Tagger(encoder)
    started = time.perf_counter()
    with store_database() as database:
        catalog = demo.catalog(products, seed=seed)
        with out_console.status(f"Tagging {len(catalog):,} products with the text model…"):
            tagged = asyncio.run(loader.load_products(tagger, database, catalog,
                                                      account=_ACCOUNT, now=utcnow()))
        history = demo.sessions(catalog, sessions, seed=seed + 1)
        bought = loader.record_purchases(database, history, account=_ACCOUNT, now=utcnow())
        table = asyncio.run(loader.session_table(history, catalog=tagged, tagger=tagger,
                                                 encoder=encoder))
        loader.write_sessions(table, target)
    if not _registered(name):
        _register(name, target, loader.SESSIONS_TABLE, "persona")
    with store_session() as session:
        try:
            model_repo.create_model(
                session=session, account=_ACCOUNT, now=utcnow(), model_create=ModelCreate(
                    name=get_settings().shop_persona_model, label_column="persona",
                    feature_columns=list(FEATURES),
                    description="Shopper persona from a live session (POST /v1/infer)."))
        except ConflictError:
            pass  # trained before: new snapshots make new versions
    out_console.print(
        f"Tagged {len(tagged):,} products, wrote {sessions:,} sessions ({bought:,} purchases) "
        f"to {target} in {time.perf_counter() - started:.1f}s.", highlight=False)


@app.command("shop")
def shop(
    products: Annotated[int, typer.Option(min=60, help="Catalog size.")] = 5000,
    sessions: Annotated[int, typer.Option(min=100, help="Training sessions.")] = 20_000,
    into: IntoOption = None,
    name: Annotated[str, typer.Option(help="Datasource name to register.")] = "shop-sessions-db",
    seed: SeedOption = 11,
    train: Annotated[bool, typer.Option(
        help="Snapshot and train the persona model on the running service (PULSE_BASE_URL, "
        "default http://127.0.0.1:8000); --no-train only writes the data.")] = True,
    epochs: Annotated[int | None, typer.Option(
        min=1, help="Passes over the sessions (default: the server's).")] = None,
) -> None:
    """Generate a catalog (tagged into the store), shopper sessions with known personas
    and their purchases, and the persona model; then snapshot the sessions and train
    and deploy the model on the running service, so the seed's POST /v1/infer answers.

    Key: PULSE_API_KEY or the `pulse auth login` one; with neither,
    a key made in the local store and saved as the CLI's login.
    Again: an unchanged snapshot is reused, its model not retrained.
    """
    settings = get_settings()
    target = _target(into)
    model = settings.shop_persona_model
    if not train:
        _write_shop(products=products, sessions=sessions, target=target, name=name, seed=seed)
        out_console.print(f"Next: `pulse snapshot {name}`, then train {model} on it "
                          "(`pulse train` or POST /v1/train).", highlight=False)
        return
    client, made = demo_service.connect(account=_ACCOUNT)  # before minutes of tagging
    with client:
        _write_shop(products=products, sessions=sessions, target=target, name=name, seed=seed)
        deployed = demo_service.deploy_model(client, datasource=name, model=model,
                                             epochs=epochs)
        demo_service.print_next_steps(base_url=client.base_url, deployed=deployed,
                                      examples=write_examples(settings.data_dir), made=made)
