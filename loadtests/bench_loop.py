"""The closed loop on demo data, end to end through a Pulse it starts: drift seen, a
retrain on the outcomes, and a better model deployed by itself — for fraud-detector
(``--scenario fraud``) or the shop's persona model (``--scenario shop``).

The model is trained on its demo data and deployed, with a retrain policy (daily, on
drift, f1_score, margin 0.005). Live traffic then comes in windows of ``--window``
inferences: ``--clean`` windows from the same generator (other seeds), then shifted
ones, each with its outcome, until the retrain the drift alert makes due has ended and
its canary has run out.

* fraud: fraud-detector on 20,000 transactions; the shift puts a third of the
  transactions in new merchant categories at 2.5x the amounts, two of the new
  categories being the new fraud; the outcome (a chargeback or not) goes to
  /v1/feedback.
* shop: shopper-persona on ``--sessions`` demo sessions over ``--products`` tagged
  products (``pulse demo shop --no-train``, as bench_shop.py prepares it); the shift is
  Black Friday week (``demo.BLACK_FRIDAY``: deal hunters and gift shoppers are two thirds
  of the sessions, and gift shoppers search, filter and arrive like deal hunters while
  still buying gifts), or with ``--mix``, only another persona mix; the outcome is the
  session's purchase, posted to /v1/conversions with the inference that showed the
  session its recommendations, which Pulse records as that inference's persona label
  (the purchased product's best-suited persona).

It prints:

* windows from the shift to the drift alert (target: the first full window);
* false alerts on the unshifted part (windows judged "drift"; target <= 1 %);
* the stale and the retrained model's metric on post-shift labelled data: the retrain's
  own holdout (the policy's f1_score), and a fresh post-shift test set scored through
  the API, each version pinned — fraud: F1; shop: persona accuracy against the
  sessions' true persona and hit-rate@10 on the next day's sessions (another seed, the
  shifted shop) — as a ratio retrained / stale (the baseline is the stale model, in the
  same run);
* whether the retrained version was promoted, and deployed, without anyone asking.

    python loadtests/bench_loop.py [--scenario fraud|shop] [--window 500] [--clean 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from _pulse import enterprise_key, train
from bench_shop import prepare, quality

from deployments.service import start_service
from pulse_ray.config import Settings
from pulse_ray.demo import shop as demo
from pulse_ray.demo.transactions import load, transactions
from pulse_ray.shop.personas import PERSONA_NAMES
from tests.seed_bodies import FRAUD_INPUT

NEW_CATEGORIES = ("crypto", "p2p_transfer", "nft_marketplace", "gaming_credits")
NEW_FRAUD = {"crypto", "p2p_transfer"}


class Scenario(Protocol):
    """One model's side of the loop: its data, its live traffic and its outcomes."""

    model: str

    def prepare(self, http: httpx.Client, data_dir: Path) -> str:
        """Trains the model on its demo data and deploys it; the (stale) version."""

    def traffic(self, n: int, seed: int, *, shifted: bool) -> list[Any]:
        """``n`` live items (a request and what really happened), the same per seed."""

    def send(self, http: httpx.Client, item: Any, *, outcome: bool,
             version: str | None) -> Any:
        """Infers ``item`` (on ``version`` if given), posting its outcome when asked."""

    def scores(self, http: httpx.Client, version: str, test: list[Any]) -> dict[str, float]:
        """``version``'s figures on the post-shift test set (higher is better)."""


@dataclass
class Fraud:
    model: str = "fraud-detector"

    def prepare(self, http: httpx.Client, data_dir: Path) -> str:
        load(transactions(20_000, seed=1), str(data_dir / "demo.db"))
        http.post("/v1/datasources", json={"name": "transactions-db", "type": "sqlite",
                                           "path": str(data_dir / "demo.db"),
                                           "table": "transactions"}).raise_for_status()
        snapshot = http.post("/v1/snapshot/transactions-db").json()["id"]
        http.post("/v1/models", json={"name": self.model, "label_column": "is_fraud"})
        return str(train(http, self.model, snapshot, epochs=5, deploy="always")["version"])

    def traffic(self, n: int, seed: int, *, shifted: bool) -> list[tuple[dict[str, Any], bool]]:
        """``n`` inputs with their outcomes; shifted: a third in a new category at 2.5x
        the amount, fraud when the category is one of the new fraud ones."""
        out = []
        for i, r in enumerate(transactions(n, seed=seed).to_pylist()):
            body, label = {k: r[k] for k in FRAUD_INPUT}, bool(r["is_fraud"])
            if shifted and i % 3 == 0:
                category = NEW_CATEGORIES[(i // 3) % len(NEW_CATEGORIES)]
                body = {**body, "merchant_category": category,
                        "transaction_amount": round(body["transaction_amount"] * 2.5, 2)}
                label = category in NEW_FRAUD
            out.append((body, label))
        return out

    def send(self, http: httpx.Client, item: tuple[dict[str, Any], bool], *, outcome: bool,
             version: str | None) -> tuple[Any, bool]:
        body, label = item
        options = {"version": version} if version else {}
        answer = http.post(f"/v1/infer/{self.model}", json={"input": body, "options": options})
        answer.raise_for_status()
        if outcome:
            http.post("/v1/feedback", json={"inference_id": answer.json()["id"],
                                            "label": label}).raise_for_status()
        return answer.json()["output"]["is_fraud"], label

    def scores(self, http: httpx.Client, version: str,
               test: list[tuple[dict[str, Any], bool]]) -> dict[str, float]:
        pairs = _post(http, self, test, outcome=False, version=version)
        tp = sum(1 for p, t in pairs if p and t)
        fp = sum(1 for p, t in pairs if p and not t)
        fn = sum(1 for p, t in pairs if not p and t)
        return {"F1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0}


@dataclass
class Shop:
    products: int
    sessions: int
    epochs: int
    shift: demo.Shift = demo.BLACK_FRIDAY
    model: str = "shopper-persona"
    # Purchases posted, and how many of their recorded labels were the true persona.
    labels: int = 0
    true_labels: int = 0

    def __post_init__(self) -> None:
        self.catalog = demo.catalog(self.products, seed=11)  # pulse demo shop's seed

    def prepare(self, http: httpx.Client, data_dir: Path) -> str:
        return prepare(http, data_dir, argparse.Namespace(
            products=self.products, sessions=self.sessions, epochs=self.epochs))

    def traffic(self, n: int, seed: int, *, shifted: bool) -> list[demo.DemoSession]:
        return demo.sessions(self.catalog, n, seed=seed,
                             shift=self.shift if shifted else demo.Shift())

    def send(self, http: httpx.Client, item: demo.DemoSession, *, outcome: bool,
             version: str | None) -> None:
        body = {**item.body(), "options": {"version": version}} if version else item.body()
        answer = http.post("/v1/infer", json=body)
        answer.raise_for_status()
        if outcome and item.purchased and item.value is not None:
            bought = http.post("/v1/conversions", json={
                "session_id": item.session_id, "product_id": item.purchased,
                "value": item.value, "currency": "USD", "inference_id": answer.json()["id"]})
            bought.raise_for_status()
            feedback = bought.json()["feedback"]
            if feedback:
                self.labels += 1
                self.true_labels += feedback["label"] == item.persona

    def scores(self, http: httpx.Client, version: str,
               test: list[demo.DemoSession]) -> dict[str, float]:
        found = quality(http, self.catalog, test, test, version=version)
        return {"persona accuracy (true persona)": found["accuracy"],
                "hit-rate@10, next day's sessions": found["hit_rate"]}


def _post(http: httpx.Client, scenario: Scenario, items: Sequence[Any], *, outcome: bool,
          version: str | None = None) -> list[Any]:
    """Sends each item (4 at a time, in order of the windows); what each send answered."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda item: scenario.send(http, item, outcome=outcome,
                                                        version=version), items))


def _windows(http: httpx.Client, model: str) -> list[dict[str, Any]]:
    return list(http.get(f"/v1/models/{model}/drift", params={"limit": 100})
                .json()["windows"])[::-1]  # oldest first


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(1)
    raise SystemExit(f"gave up waiting for {what} after {timeout:g} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("fraud", "shop"), default="fraud")
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--clean", type=int, default=20)
    parser.add_argument("--test-rows", type=int, default=1500)
    parser.add_argument("--products", type=int, default=2000, help="shop: catalog size")
    parser.add_argument("--sessions", type=int, default=6000,
                        help="shop: training sessions")
    parser.add_argument("--epochs", type=int, default=5, help="shop: training epochs")
    parser.add_argument("--mix", type=float, nargs=6,
                        help="shop: shift only to this persona mix (PERSONA_NAMES order), "
                             "nobody's behaviour changing")
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()
    scenario: Scenario = Fraud() if args.scenario == "fraud" else Shop(
        products=args.products, sessions=args.sessions, epochs=args.epochs,
        shift=demo.Shift(mix=tuple(args.mix)) if args.mix else demo.BLACK_FRIDAY)
    model = scenario.model
    data_dir = Path(tempfile.mkdtemp(prefix="bench-loop-"))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=data_dir, http_port=args.port, ray_num_cpus=8,
        ray_dashboard=True, ray_dashboard_port=args.port + 2,
        drift_window_requests=args.window, drift_min_rows=min(200, args.window),
        drift_interval_s=1, retrain_interval_s=2,
        # a short canary, so it can run out on the bench's own traffic
        rollout_steps=[50, 100], rollout_interval_s=10, rollout_min_requests=50)
    service = start_service(settings)
    try:
        headers = {"Authorization": f"Bearer {enterprise_key(settings.store_url)}"}
        http = httpx.Client(base_url=service.url, headers=headers, timeout=120)
        stale = scenario.prepare(http, data_dir)
        labels = 2 * args.window
        http.put(f"/v1/models/{model}/retrain-policy", json={
            "schedule": "daily", "min_new_labels": labels, "on_drift": True,
            "metric": "f1_score", "promotion_margin": 0.005}).raise_for_status()

        for w in range(args.clean):
            _post(http, scenario, scenario.traffic(args.window, 100 + w, shifted=False),
                  outcome=False)
        clean = _wait(lambda: (lambda ws: ws if len(ws) >= args.clean else None)(
            _windows(http, model)), 60, "the clean windows")
        false_alerts = sum(1 for w in clean if w["level"] == "drift")
        shift_started = time.monotonic()
        shifted_windows = 0
        while True:  # shifted traffic, with outcomes, until the retrain is due and ends
            shifted_windows += 1
            _post(http, scenario, scenario.traffic(
                args.window, 1000 + shifted_windows, shifted=True), outcome=True)
            attempts = http.get(f"/v1/models/{model}/retrain-policy").json()["attempts"]
            if attempts or shifted_windows * args.window >= 4 * labels:
                break
        alert = next((i for i, w in enumerate(_windows(http, model)[args.clean:], 1)
                      if w["level"] == "drift"), None)
        attempt = _wait(lambda: (lambda a: a[0] if a and a[0]["status"] not in (
            "preparing", "training") else None)(http.get(
                f"/v1/models/{model}/retrain-policy").json()["attempts"]), 600,
            "the retrain")
        retrain_s = time.monotonic() - shift_started
        canary = None
        if attempt["rollout"]:
            def ended() -> dict[str, Any] | None:
                _post(http, scenario, scenario.traffic(
                    200, int(time.time()) % 10_000, shifted=True), outcome=False)
                rollout: dict[str, Any] = http.get(f"/v1/models/{model}/rollout").json()
                return rollout if rollout["status"] != "running" else None
            canary = _wait(ended, 300, "the canary")
        test = scenario.traffic(args.test_rows, 9999, shifted=True)
        stale_scores = scenario.scores(http, stale, test)
        new_scores = scenario.scores(http, attempt["version"], test) \
            if attempt["version"] else {k: float("nan") for k in stale_scores}
        deployed = http.get(f"/v1/models/{model}").json()["deployed_version"]
        timeline = http.get(f"/v1/models/{model}/timeline").json()["periods"]
    finally:
        service.stop()

    if isinstance(scenario, Shop):
        print(f"shifted persona mix: {dict(zip(PERSONA_NAMES, scenario.shift.mix, strict=True))}"
              f", behaving differently: {sorted(scenario.shift.behaviour)}")
    print(f"{model}: drift windows of {args.window}: first alert in shifted window {alert} "
          "(target 1)")
    print(f"false alerts on the unshifted part: {false_alerts} of {len(clean)} windows "
          f"({100 * false_alerts / len(clean):.1f} %, target <= 1 %)")
    if isinstance(scenario, Shop) and scenario.labels:
        print(f"purchases recorded as persona labels: {scenario.labels}, "
              f"{scenario.true_labels / scenario.labels:.3f} of them the shopper's true persona")
    print(f"retrain: {attempt['status']} ({attempt['reason']}), "
          f"{attempt['feedback_rows']} feedback rows trained on, holdout "
          f"{attempt['holdout_rows']}, {retrain_s:.0f} s from the shift to its decision")
    print(f"{'on post-shift labelled data':<52} {'stale':>8} {'retrained':>10} {'ratio':>7}")
    rows = [(f"{attempt['metric']}, the retrain's holdout", attempt["champion_metric"],
             attempt["candidate_metric"])]
    rows += [(f"{name} ({args.test_rows} fresh)", stale_scores[name], new_scores[name])
             for name in stale_scores]
    for name, old, new in rows:
        ratio = f"{new / old:>6.2f}x" if old else "   n/a"
        print(f"{name:<52} {old:>8.3f} {new:>10.3f} {ratio}")
    print(f"canary: {canary['status'] if canary else 'none'}"
          f"{' — ' + canary['reason'] if canary and canary.get('reason') else ''}; "
          f"deployed now: {deployed} (stale {stale}, retrained {attempt['version']})")
    print("timeline:", [(p["version"], p["reason"]) for p in timeline])


if __name__ == "__main__":
    main()
