"""How good and how fast POST /v1/infer is, on held-out demo sessions, in one run.

1. Pulse as ``pulse serve`` runs it; ``pulse demo shop --no-train`` tags the catalog
   into its store and writes the training sessions; the sessions are snapshotted and
   shopper-persona trained by a real run (Ray Train, timed here) and deployed.
2. Quality, over sessions the model never saw (another seed), each sent as the seed's
   body: persona accuracy against always answering the majority persona of the
   training sessions; hit-rate@10 (the purchased product among the ten
   recommendations) against recommending the best sellers of the training sessions
   that pass the session's filters; the share of recommendations that break a filter
   or repeat a viewed product (must be 0).
3. Speed: wrk at 8 connections (and at 1: the path's latency without queueing), in
   ``--rounds`` alternating rounds (medians printed, each round's figures beside them),
   after a warm-up of 10 s, cycling through the held-out bodies with a random dwell
   time on every request, so the prediction cache practically never answers
   (search-query embeddings repeat, as real queries do, and come from the replica's
   query cache after their first use). Then the baseline: a second copy of Pulse with
   the model on ModelServer replicas (``model_serving="replicas"``) is deployed beside
   it, and the two alternate at 8 connections.

    python loadtests/bench_shop.py [--products 5000] [--sessions 20000] [--held-out 1000]
                                   [--rounds 3]

Needs wrk (apt install wrk). Only talks to 127.0.0.1; every run stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from _pulse import enterprise_key, train, wait_ok
from _wrk import WrkResult, median, require_wrk, wrk
from ray import serve

from deployments.app import application
from deployments.service import start_service
from pulse_ray.config import Settings
from pulse_ray.demo import shop as demo

MODEL = "shopper-persona"
DATASOURCE = "shop-sessions-db"
_CATALOG_SEED = 11  # pulse demo shop's defaults: catalog seed, training sessions seed + 1
_HELD_OUT_SEED = 999


def prepare(http: httpx.Client, data_dir: Path, args: argparse.Namespace) -> str:
    """pulse demo shop → snapshot → a trained, deployed shopper-persona; its version."""
    started = time.perf_counter()
    pulse = str(Path(sys.executable).with_name("pulse"))
    subprocess.run([pulse, "demo", "shop", "--products", str(args.products),
                    "--sessions", str(args.sessions), "--no-train"], check=True,
                   env={**os.environ, "PULSE_DATA_DIR": str(data_dir)})
    print(f"demo shop: {time.perf_counter() - started:.0f}s", flush=True)
    snapshot = http.post(f"/v1/snapshot/{DATASOURCE}")
    snapshot.raise_for_status()
    run = train(http, MODEL, snapshot.json()["id"], epochs=args.epochs)
    print(f"trained {run['version']} (validation {run['metrics']}) at "
          f"{time.perf_counter() - started:.0f}s", flush=True)
    return str(run["version"])


def quality(http: httpx.Client, catalog: list[demo.DemoProduct],
            training: list[demo.DemoSession], held_out: list[demo.DemoSession], *,
            version: str | None = None) -> dict[str, float]:
    """Persona accuracy and hit-rate@10 over ``held_out`` (answered by ``version``, else
    the deployed one), and their baselines from ``training``."""
    by_id = {p.id: p for p in catalog}
    majority = Counter(s.persona for s in training).most_common(1)[0][0]
    sold = Counter(s.purchased for s in training if s.purchased)
    best_sellers = [product_id for product_id, _ in sold.most_common()]
    right = majority_right = hits = popular_hits = bought = shown = broken = 0
    for session in held_out:
        response = http.post("/v1/infer", json={**session.body(), "options": {
            "version": version}} if version else session.body())
        response.raise_for_status()
        body = response.json()
        right += body["persona"]["primary"] == session.persona
        majority_right += majority == session.persona
        picked = body["recommendations"]["product_ids"]
        filters = session.parsed_filters
        shown += len(picked)
        broken += sum(not filters.admits(by_id[p].price, by_id[p].rating, by_id[p].category)
                      or p in session.viewed for p in picked)
        if session.purchased:
            bought += 1
            hits += session.purchased in picked
            popular = [p for p in best_sellers if p not in session.viewed and filters.admits(
                by_id[p].price, by_id[p].rating, by_id[p].category)][:10]
            popular_hits += session.purchased in popular
    return {"accuracy": right / len(held_out), "majority": majority_right / len(held_out),
            "hit_rate": hits / max(bought, 1), "popular_hit_rate": popular_hits / max(bought, 1),
            "broken": broken / max(shown, 1)}


def lua(bodies: list[dict[str, object]]) -> str:
    """A wrk script that cycles through ``bodies``, a random dwell time (1 s to 10 min,
    to the millisecond) on each request, seeded from the argument ``wrk`` passes each
    run — unseeded, or counting from the run's first request, every round would send
    the previous round's bodies again and be answered from the prediction cache."""
    encoded = ",\n".join(json.dumps(json.dumps(b)) for b in bodies)
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {{ {encoded} }}
local n = 0
init = function(args)
  math.randomseed(tonumber(args[1]))
end
request = function()
  n = n + 1
  local body = bodies[(n % #bodies) + 1]
  local dwell = math.random(1000, 600000)
  body = string.gsub(body, '"dwell_time_ms": [%dnul]+', '"dwell_time_ms": ' .. dwell)
  return wrk.format(nil, nil, nil, body)
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--held-out", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()
    require_wrk()
    data_dir = Path(tempfile.mkdtemp(prefix="pulse-bench-shop-"))
    settings = Settings(_env_file=None, data_dir=data_dir, http_port=args.port,  # type: ignore[call-arg]
                        ray_num_cpus=8, ray_dashboard=True, ray_dashboard_port=args.port + 2)
    service = start_service(settings)
    try:
        headers = {"Authorization": f"Bearer {enterprise_key(settings.store_url)}"}
        with httpx.Client(base_url=service.url, headers=headers, timeout=120) as http:
            version = prepare(http, data_dir, args)
            catalog = demo.catalog(args.products, seed=_CATALOG_SEED)
            training = demo.sessions(catalog, args.sessions, seed=_CATALOG_SEED + 1)
            held_out = demo.sessions(catalog, args.held_out, seed=_HELD_OUT_SEED)
            scores = quality(http, catalog, training, held_out)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(lua([s.body() for s in held_out[:300]]))
        url = f"{service.url}/v1/infer"
        rounds: dict[str, list[WrkResult]] = {}

        def measure(cases: dict[str, tuple[str, int]]) -> None:
            """Warms each case (model loads, the query cache), then alternating rounds."""
            for case_url, connections in cases.values():
                wait_ok(case_url, headers=headers, json=held_out[0].body())
                wrk(case_url, duration=10, connections=connections, headers=headers,
                    script=f.name)
            for _ in range(args.rounds):
                for case, (case_url, connections) in cases.items():
                    rounds.setdefault(case, []).append(wrk(
                        case_url, duration=args.duration, connections=connections,
                        headers=headers, script=f.name))

        # The targets: Pulse as `pulse serve` runs it, alone on the machine.
        measure({"ingress, 8": (url, 8), "ingress, 1": (url, 1)})
        # The baseline: the same application with the model on its own ModelServer
        # replicas (a Serve handle call per prediction), deployed beside it on the same
        # store, the two alternating (each slowed a little by the other's idle replicas).
        replicas = settings.model_copy(update={"model_serving": "replicas",
                                               "serve_app_name": "pulse-replicas"})
        serve.run(application(replicas), name=replicas.serve_app_name,
                  route_prefix="/replicas", blocking=False)
        measure({"beside, ingress, 8": (url, 8),
                 "beside, replicas, 8": (f"{service.url}/replicas/v1/infer", 8)})
        load = os.getloadavg()[0]
    finally:
        service.stop()

    print(f"\n{MODEL} {version}: {args.products:,} products, {args.sessions:,} training "
          f"sessions, {args.held_out:,} held-out sessions\n")
    print(f"persona accuracy        {scores['accuracy']:.3f}   majority-class baseline "
          f"{scores['majority']:.3f}   ({scores['accuracy'] / scores['majority']:.2f}x)")
    print(f"hit-rate@10             {scores['hit_rate']:.3f}   best-seller baseline "
          f"{scores['popular_hit_rate']:.3f}   "
          f"({scores['hit_rate'] / max(scores['popular_hit_rate'], 1e-9):.2f}x)")
    print(f"recommendations breaking a filter or repeating a view: {scores['broken']:.4f}")
    speed = median(rounds["ingress, 8"])
    beside, baseline = median(rounds["beside, ingress, 8"]), median(rounds["beside, replicas, 8"])
    print(f"POST /v1/infer, {args.rounds} alternating rounds of {args.duration} s, medians "
          f"(load average {load:.1f} at the end); rounds' p50/p99 in brackets:")
    for name, case, about in (
            ("8 connections", "ingress, 8", "seed example: 32 ms"),
            ("1 connection", "ingress, 1", "no queueing: the path's own latency"),
            ("model in the ingress, beside the baseline", "beside, ingress, 8", ""),
            ("model on ModelServer replicas (baseline)", "beside, replicas, 8", "")):
        result = median(rounds[case])
        print(f"  {name:<42} {result.rps:>5.0f} req/s, p50 {result.p50_ms:5.1f} ms, p99 "
              f"{result.p99_ms:5.1f} ms{f' ({about})' if about else ''} ["
              + ", ".join(f"{r.p50_ms:.1f}/{r.p99_ms:.1f}" for r in rounds[case]) + "]")
    print(f"  model in the ingress vs on replicas, 8 connections: "
          f"{beside.rps / baseline.rps:.2f}x req/s, p50 {beside.p50_ms / baseline.p50_ms:.2f}x, "
          f"p99 {beside.p99_ms / baseline.p99_ms:.2f}x")
    targets = {
        "accuracy above the majority baseline": scores["accuracy"] > scores["majority"],
        "hit-rate@10 above the best-seller baseline":
            scores["hit_rate"] > scores["popular_hit_rate"],
        "no recommendation breaks a filter": scores["broken"] == 0,
        "p50 <= 25 ms": speed.p50_ms <= 25,
        "p99 <= 80 ms": speed.p99_ms <= 80,
    }
    print("\n" + "\n".join(f"{'met ' if ok else 'MISSED'} {name}" for name, ok in targets.items()))


if __name__ == "__main__":
    main()
