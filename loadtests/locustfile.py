"""A realistic mix of Pulse traffic, as an integration runs it against a shop.

    PULSE_API_KEY=pulse_sk_… PULSE_FREE_API_KEY=pulse_sk_… \\
    locust -f loadtests/locustfile.py --headless -u 20 -r 5 -t 2m --host http://127.0.0.1:8000

Needs a trained, deployed ``fraud-detector`` and ``shopper-persona`` (``pulse demo
transactions``, ``pulse demo shop``, then a snapshot and a training run of each).
``PULSE_LOCUST_FRAUD_MODEL`` and ``PULSE_LOCUST_DATASOURCE`` name others (defaults
``fraud-detector`` and ``transactions-db``, the demo's).

* ``ShopBackend`` (``PULSE_API_KEY``, a plan that fits the load: each user sends 4–6
  requests/s, so growth or enterprise — pro's 600/min is one budget for every route,
  and its 429s here would count as failures): persona inference for live sessions
  (the heaviest share), fraud scoring of payments, catalog updates through tagging,
  lineage look-ups of its own recent inferences, and — at most once per run
  (``PULSE_LOCUST_TRAINING=0`` turns it off) — a training trigger on the latest
  snapshot of the transactions datasource.
* ``FreeTrial`` (``PULSE_FREE_API_KEY``, the free plan: 60/min, burst 10, one budget
  for all the key's routes), present only when that variable is set: it scores payments
  faster than its plan allows, so its 429s are expected; they are reported apart, as
  ``… [429 expected]``, never as failures.

Every other non-2xx answer is a failure. Sessions and payments vary per request (the
demo generators), so caches answer only what would repeat in real traffic.
"""

from __future__ import annotations

import os
import random
import threading
from typing import Any

from locust import HttpUser, between, task

from pulse_ray.demo import shop as demo

_SESSIONS = demo.sessions(demo.catalog(600, seed=11), 500, seed=404)
_CATEGORIES = ("grocery", "electronics", "travel", "fashion", "gift_cards", "restaurants")
FRAUD = os.environ.get("PULSE_LOCUST_FRAUD_MODEL", "fraud-detector")
DATASOURCE = os.environ.get("PULSE_LOCUST_DATASOURCE", "transactions-db")
_training = threading.Lock()
_trained = False


def _payment() -> dict[str, Any]:
    return {"transaction_amount": round(random.lognormvariate(3.6, 0.9), 2),
            "merchant_category": random.choice(_CATEGORIES), "country": "US",
            "home_country": random.choice(("US", "US", "GB")), "hour": random.randrange(24),
            "device": random.choice(("mobile", "desktop", None)),
            "account_age_days": random.randrange(1, 3000),
            "txn_count_24h": random.randrange(10), "avg_amount_30d": 40.0,
            "distance_from_home_km": round(random.expovariate(1 / 30), 1)}


def _session() -> dict[str, Any]:
    body = random.choice(_SESSIONS).body()
    body["session_id"] = f"sess_locust_{random.randrange(10**9)}"
    return body


class ShopBackend(HttpUser):
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {os.environ['PULSE_API_KEY']}"
        self.recent: list[str] = []

    def _remember(self, response: Any) -> None:
        if response.status_code == 200:
            self.recent = [response.json()["id"], *self.recent][:20]

    @task(10)
    def persona(self) -> None:
        self._remember(self.client.post("/v1/infer", json=_session()))

    @task(6)
    def fraud(self) -> None:
        self._remember(self.client.post(f"/v1/infer/{FRAUD}", json={"input": _payment()},
                                        name="/v1/infer/[fraud model]"))

    @task(2)
    def tag(self) -> None:
        n = random.randrange(1, 4)
        self.client.post("/v1/products/tag", name="/v1/products/tag", json={"products": [
            {"id": f"prod_locust_{random.randrange(10**6)}", "name": "Trail Runner",
             "description": "Light and grippy, for wet trails.", "category": "footwear/trail",
             "price": round(random.uniform(40, 160), 2), "rating": 4.2} for _ in range(n)]})

    @task(3)
    def lineage(self) -> None:
        if self.recent:
            self.client.get(f"/v1/lineage/{random.choice(self.recent)}", name="/v1/lineage/[id]")

    @task(1)
    def train(self) -> None:
        global _trained
        if os.environ.get("PULSE_LOCUST_TRAINING", "1") == "0":
            return
        with _training:
            if _trained:
                return
            _trained = True
        snapshots = self.client.get("/v1/snapshots", params={"datasource": DATASOURCE,
                                                              "limit": 1}).json()["data"]
        if snapshots:
            self.client.post(f"/v1/train/{FRAUD}", name="/v1/train/[fraud model]", json={
                "snapshot": snapshots[0]["id"], "options": {"epochs": 1, "deploy": "never"}})


if os.environ.get("PULSE_FREE_API_KEY"):  # the class exists only with a free key

    class FreeTrial(HttpUser):
        wait_time = between(0.02, 0.1)

        def on_start(self) -> None:
            self.client.headers["Authorization"] = (
                f"Bearer {os.environ['PULSE_FREE_API_KEY']}")

        @task
        def fraud(self) -> None:
            with self.client.post(f"/v1/infer/{FRAUD}", json={"input": _payment()},
                                  name="/v1/infer/[fraud model]", catch_response=True
                                  ) as response:
                if response.status_code == 429:
                    response.request_meta["name"] = "/v1/infer/[fraud model] [429 expected]"
                    response.success()
