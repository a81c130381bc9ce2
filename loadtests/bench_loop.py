"""The closed loop on demo data, end to end through a Pulse it starts: drift seen, a
retrain on the outcomes, and a better model deployed by itself.

fraud-detector is trained on the fraud demo's transactions (20,000 rows) and deployed,
with a retrain policy (daily, on drift, f1_score, margin 0.005). Live traffic then comes
in windows of ``--window`` inferences: ``--clean`` windows from the same generator
(other seeds), then shifted ones — a third of the transactions in new merchant
categories with 2.5x the amounts, where two of the new categories are the new fraud —
each with its outcome posted to /v1/feedback, until the retrain the drift alert makes
due has ended and its canary has run out. It prints:

* windows from the shift to the drift alert (target: the first full window);
* false alerts on the unshifted part (windows judged "drift"; target <= 1 %);
* the stale and the retrained model's F1 on post-shift labelled data: the retrain's own
  holdout, and a fresh post-shift test set scored through the API (each version pinned),
  as a ratio retrained / stale (the baseline is the stale model, in the same run);
* whether the retrained version was promoted, and deployed, without anyone asking.

The shop half of the issue's benchmark (hit-rate@10 before and after) is not here.

    python loadtests/bench_loop.py [--window 500] [--clean 20] [--port 8790]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from _pulse import enterprise_key, train

from deployments.service import start_service
from pulse_ray.config import Settings
from pulse_ray.demo.transactions import load, transactions
from tests.seed_bodies import FRAUD_INPUT

MODEL = "fraud-detector"
NEW_CATEGORIES = ("crypto", "p2p_transfer", "nft_marketplace", "gaming_credits")
NEW_FRAUD = {"crypto", "p2p_transfer"}


def _rows(n: int, seed: int, *, shifted: bool) -> list[tuple[dict[str, Any], bool]]:
    """``n`` inputs with their outcomes; shifted: a third in a new category at 2.5x the
    amount, fraud when the category is one of the new fraud ones."""
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


def _post(http: httpx.Client, rows: Iterable[tuple[dict[str, Any], bool]], *,
          feedback: bool, version: str | None = None) -> list[tuple[Any, bool]]:
    """Infers each row (4 at a time, in order of the windows), posting its outcome when
    ``feedback``; (prediction, outcome) of each."""

    def one(row: tuple[dict[str, Any], bool]) -> tuple[Any, bool]:
        body, label = row
        options = {"version": version} if version else {}
        answer = http.post(f"/v1/infer/{MODEL}", json={"input": body, "options": options})
        answer.raise_for_status()
        if feedback:
            http.post("/v1/feedback", json={"inference_id": answer.json()["id"],
                                            "label": label}).raise_for_status()
        return answer.json()["output"]["is_fraud"], label

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, rows))


def _f1(pairs: list[tuple[Any, bool]]) -> float:
    tp = sum(1 for p, t in pairs if p and t)
    fp = sum(1 for p, t in pairs if p and not t)
    fn = sum(1 for p, t in pairs if not p and t)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _windows(http: httpx.Client) -> list[dict[str, Any]]:
    return list(http.get(f"/v1/models/{MODEL}/drift", params={"limit": 100})
                .json()["windows"])[::-1]  # oldest first


def _wait(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(1)
    raise SystemExit(f"gave up waiting for {what} after {timeout:g} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--clean", type=int, default=20)
    parser.add_argument("--test-rows", type=int, default=1500)
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()
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
        load(transactions(20_000, seed=1), str(data_dir / "demo.db"))
        http.post("/v1/datasources", json={"name": "transactions-db", "type": "sqlite",
                                           "path": str(data_dir / "demo.db"),
                                           "table": "transactions"}).raise_for_status()
        snapshot = http.post("/v1/snapshot/transactions-db").json()["id"]
        http.post("/v1/models", json={"name": MODEL, "label_column": "is_fraud"})
        stale = str(train(http, MODEL, snapshot, epochs=5, deploy="always")["version"])
        labels = 2 * args.window
        http.put(f"/v1/models/{MODEL}/retrain-policy", json={
            "schedule": "daily", "min_new_labels": labels, "on_drift": True,
            "metric": "f1_score", "promotion_margin": 0.005}).raise_for_status()

        for w in range(args.clean):
            _post(http, _rows(args.window, seed=100 + w, shifted=False), feedback=False)
        clean = _wait(lambda: (lambda ws: ws if len(ws) >= args.clean else None)(
            _windows(http)), 60, "the clean windows")
        false_alerts = sum(1 for w in clean if w["level"] == "drift")
        shift_started = time.monotonic()
        shifted_windows = 0
        while True:  # shifted traffic, with outcomes, until the retrain is due and ends
            shifted_windows += 1
            _post(http, _rows(args.window, seed=1000 + shifted_windows, shifted=True),
                  feedback=True)
            attempts = http.get(f"/v1/models/{MODEL}/retrain-policy").json()["attempts"]
            if attempts or shifted_windows * args.window >= 4 * labels:
                break
        alert = next((i for i, w in enumerate(_windows(http)[args.clean:], 1)
                      if w["level"] == "drift"), None)
        attempt = _wait(lambda: (lambda a: a[0] if a and a[0]["status"] not in (
            "preparing", "training") else None)(http.get(
                f"/v1/models/{MODEL}/retrain-policy").json()["attempts"]), 600,
            "the retrain")
        retrain_s = time.monotonic() - shift_started
        canary = None
        if attempt["rollout"]:
            def ended() -> dict[str, Any] | None:
                _post(http, _rows(200, seed=int(time.time()) % 10_000, shifted=True),
                      feedback=False)
                rollout: dict[str, Any] = http.get(f"/v1/models/{MODEL}/rollout").json()
                return rollout if rollout["status"] != "running" else None
            canary = _wait(ended, 300, "the canary")
        test = _rows(args.test_rows, seed=9999, shifted=True)
        stale_f1 = _f1(_post(http, test, feedback=False, version=stale))
        new_f1 = _f1(_post(http, test, feedback=False, version=attempt["version"])) \
            if attempt["version"] else float("nan")
        deployed = http.get(f"/v1/models/{MODEL}").json()["deployed_version"]
        timeline = http.get(f"/v1/models/{MODEL}/timeline").json()["periods"]
    finally:
        service.stop()

    print(f"drift windows of {args.window}: first alert in shifted window {alert} "
          "(target 1)")
    print(f"false alerts on the unshifted part: {false_alerts} of {len(clean)} windows "
          f"({100 * false_alerts / len(clean):.1f} %, target <= 1 %)")
    print(f"retrain: {attempt['status']} ({attempt['reason']}), "
          f"{attempt['feedback_rows']} feedback rows trained on, holdout "
          f"{attempt['holdout_rows']}, {retrain_s:.0f} s from the shift to its decision")
    print(f"{'F1 on post-shift labelled data':<44} {'stale':>8} {'retrained':>10} {'ratio':>7}")
    for name, old, new in (("the retrain's holdout", attempt["champion_metric"],
                            attempt["candidate_metric"]),
                           (f"a fresh post-shift test set ({args.test_rows})", stale_f1,
                            new_f1)):
        ratio = f"{new / old:>6.2f}x" if old else "   n/a"
        print(f"{name:<44} {old:>8.3f} {new:>10.3f} {ratio}")
    print(f"canary: {canary['status'] if canary else 'none'}"
          f"{' — ' + canary['reason'] if canary and canary.get('reason') else ''}; "
          f"deployed now: {deployed} (stale {stale}, retrained {attempt['version']})")
    print("timeline:", [(p["version"], p["reason"]) for p in timeline])


if __name__ == "__main__":
    main()
