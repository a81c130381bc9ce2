"""Snapshot speed and memory against a plain single-process baseline, in one run.

Makes a 1,247,832-row ``transactions`` table in PostgreSQL (a database of its own,
dropped afterwards), starts Pulse on a local Ray, and compares:

* ``POST /v1/snapshot/{datasource}`` through the Serve ingress (Ray Data range reads,
  Parquet zstd, content hash), wall time as the client sees it;
* the baseline: psycopg ``COPY (SELECT * ...) TO STDOUT`` into pyarrow, then
  ``pyarrow.parquet.write_table(..., compression="zstd")`` — no hash, one process.

It also samples the resident memory of the Ray processes that do the work (ingress
replica, snapshot coordinator, read/write workers) and repeats the snapshot on a table
a quarter the size, to show that memory does not grow with the table. A warm-up
snapshot runs first: a cluster's first Ray Data job pays for starting worker processes
(several seconds here; see the README).

    python loadtests/bench_snapshot.py [--rows 1247832] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import io
import secrets
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
import psycopg
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from psycopg import sql

from deployments.service import start_service
from pulse_ray.config import Settings
from pulse_ray.demo.transactions import load, transactions
from pulse_ray.schemas.keys import ApiKeyCreate
from pulse_ray.store import Database
from pulse_ray.store import keys as key_repo
from pulse_ray.timeutil import utcnow

ROLES = {"ingress": "ServeReplica", "coordinator": "_take_snapshot", "workers": "MapBatches"}


class MemorySampler:
    """Peak RSS per role of the Ray processes, sampled every 20 ms."""

    def __init__(self) -> None:
        self.peaks = dict.fromkeys(ROLES, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for process in psutil.process_iter(["cmdline", "memory_info"]):
                title = " ".join(process.info["cmdline"] or [])
                for role, marker in ROLES.items():
                    if marker in title and process.info["memory_info"]:
                        self.peaks[role] = max(self.peaks[role], process.info["memory_info"].rss)
            time.sleep(0.02)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def baseline(url: str, out: Path) -> float:
    started = time.perf_counter()
    buffer = io.BytesIO()
    with psycopg.connect(url) as conn, conn.cursor().copy(
        "COPY (SELECT * FROM transactions) TO STDOUT WITH (FORMAT csv, HEADER)"
    ) as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    table = pacsv.read_csv(buffer)
    pq.write_table(table, out, compression="zstd")
    return time.perf_counter() - started


def snapshot(client: httpx.Client, name: str) -> tuple[float, dict, dict[str, int]]:  # type: ignore[type-arg]
    with MemorySampler() as sampler:
        started = time.perf_counter()
        response = client.post(f"/v1/snapshot/{name}", json={"options": {"force": True}})
        elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json(), sampler.peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_247_832)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--port", type=int, default=8767)
    args = parser.parse_args()

    database = f"pulse_bench_{secrets.token_hex(4)}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    url = args.postgres.rsplit("/", 1)[0] + "/" + database
    work = Path(tempfile.mkdtemp(prefix="pulse-bench-snap-"))
    settings = Settings(_env_file=None, data_dir=work, http_port=args.port,  # type: ignore[call-arg]
                        ray_dashboard=False, rate_limits=False, request_timeout_s=600)
    service = start_service(settings)
    try:
        store = Database(settings.store_url)
        with store.session() as session:
            _, secret = key_repo.create_key(
                session=session, key_create=ApiKeyCreate(name="bench", plan="enterprise"),
                account="default", now=utcnow(),
            )
        client = httpx.Client(base_url=service.url, timeout=600,
                              headers={"Authorization": f"Bearer {secret}"})
        sizes = {"small": args.rows // 4, "full": args.rows}
        for size, rows in sizes.items():
            load(transactions(rows), url, name=f"transactions_{size}")
            client.post("/v1/datasources", json={
                "name": f"tx-{size}", "type": "postgresql", "url": url,
                "table": f"transactions_{size}"}).raise_for_status()
        snapshot(client, "tx-small")  # warm-up: starts the worker processes both use
        results = {size: snapshot(client, f"tx-{size}") for size in sizes}
        load(transactions(args.rows), url)  # the baseline reads `transactions`
        base = baseline(url, work / "baseline.parquet")
    finally:
        service.stop()
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database)))

    elapsed, body, peaks = results["full"]
    print(f"rows {body['rows']:,}  size {body['size_bytes'] / 2**20:.1f} MiB  {body['hash'][:23]}…")
    print(f"snapshot through the API  {elapsed:6.2f} s")
    print(f"baseline COPY + write     {base:6.2f} s")
    print(f"ratio                     {elapsed / base:6.2f}   (target <= 1.5)")
    print("peak RSS (MiB)            " + "  ".join(
        f"{role}: {results['small'][2][role] / 2**20:.0f} -> {peaks[role] / 2**20:.0f}"
        for role in ROLES) + f"   ({sizes['small']:,} -> {sizes['full']:,} rows)")


if __name__ == "__main__":
    main()
