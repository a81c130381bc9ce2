"""What counting traffic minutes adds to the ingress's batched record write.

The request path only appends to the batch; the write thread then inserts the records
and upserts the batch's traffic minutes (:func:`pulse_ray.store.traffic.count_events`).
This times, in alternating rounds on fresh batches, the whole write
(:func:`~pulse_ray.store.inference.insert_events`, records and counts) against the
counting alone, and prints their CPU medians and the counting's share.

    python loadtests/bench_traffic.py [--store-url postgresql://…] [--batch 1000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from _store import own_database
from cryptography.fernet import Fernet
from pydantic import SecretStr

from pulse_ray.config import Settings
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.predictions import FailedInference, InferenceEvent
from pulse_ray.schemas.models import ModelCreate
from pulse_ray.store import Database, upgrade
from pulse_ray.store import inference as inference_repo
from pulse_ray.store import models as model_repo
from pulse_ray.store import traffic as traffic_repo
from pulse_ray.timeutil import utcnow

Event = InferenceEvent | FailedInference


def batch(rng: random.Random, model_id: str, size: int) -> list[Event]:
    """``size`` predictions of the last few seconds over 5 versions, 1% failed."""
    now = utcnow()
    events: list[Event] = []
    for _ in range(size):
        at, version = now - timedelta(seconds=rng.uniform(0, 5)), f"1.{rng.randrange(5)}.0"
        latency = rng.lognormvariate(1, 0.5)
        events.append(FailedInference(account="a", model_row_id=model_id, version=version,
                                      latency_ms=latency, server_side=True, created_at=at)
                      if rng.random() < 0.01 else
                      InferenceEvent(id=new_id(IdPrefix.INFERENCE, now=at), account="a",
                                     key_id=None, model_row_id=model_id, version=version,
                                     latency_ms=latency, cached=False, created_at=at))
    return events


def cpu_ms(database: Database, write: Callable[..., None], events: list[Event]) -> float:
    started = time.process_time()
    with database.session() as session:
        write(session=session, events=events)
    return (time.process_time() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-url", default="")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as directory, own_database(args.store_url) as url:
        database = Database.from_settings(Settings(
            data_dir=Path(directory), store_url=url,
            secret_keys=SecretStr(Fernet.generate_key().decode())))
        upgrade(database)
        with database.session() as session:
            model = model_repo.create_model(session=session, account="a", now=utcnow(),
                                            model_create=ModelCreate(name="m",
                                                                     label_column="y"))
        whole, counting = [], []
        for _ in range(args.rounds):  # alternating, each on a fresh batch
            whole.append(cpu_ms(database, inference_repo.insert_events,
                                batch(rng, model.id, args.batch)))
            counting.append(cpu_ms(database, traffic_repo.count_events,
                                   batch(rng, model.id, args.batch)))
        database.dispose()
    write, count = statistics.median(whole), statistics.median(counting)
    print(f"batch of {args.batch} ({url.split(':')[0] or 'sqlite'}), CPU medians of "
          f"{args.rounds} alternating rounds:")
    print(f"  insert_events (records + traffic minutes): {write:.1f} ms")
    print(f"  count_events alone:                        {count:.1f} ms "
          f"({count / write:.0%} of the write)")


if __name__ == "__main__":
    main()
