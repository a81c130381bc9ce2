"""How soon the drift rules see a shift and how often they cry wolf, on demo data.

The fraud demo's transactions: a training snapshot (20,000 rows) binned as the drift
watch bins it, then a stream of live inputs in windows of ``--window`` (1,000): the first
``--clean`` windows drawn from the same generator with other seeds, the rest shifted as
issue 20 describes (amounts x2.5, a third of the merchant categories new). It prints the
windows from the shift to the first alert, and the false alerts (a window judged "drift")
before it. The rules only (pulse_ray.drift): no Ray, no store — the service runs these
same functions on the records the controller reads.

    python loadtests/bench_drift.py [--window 1000] [--clean 100] [--shifted 10]
"""

from __future__ import annotations

import argparse
from typing import Any

from pulse_ray.demo.transactions import transactions
from pulse_ray.drift import (
    FeatureReference,
    Thresholds,
    categorical_reference,
    feature_drift,
    numeric_reference,
)
from tests.seed_bodies import FRAUD_INPUT

NUMERIC = {k for k, v in FRAUD_INPUT.items() if isinstance(v, int | float)}


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    return [{k: r[k] for k in FRAUD_INPUT} for r in transactions(n, seed=seed).to_pylist()]


def _shift(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "transaction_amount": r["transaction_amount"] * 2.5,
             "merchant_category": f"new-{i % 4}" if i % 3 == 0 else r["merchant_category"]}
            for i, r in enumerate(rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--clean", type=int, default=100)
    parser.add_argument("--shifted", type=int, default=10)
    args = parser.parse_args()
    limits = Thresholds(watch=0.1, alert=0.25)
    snapshot = _rows(20_000, seed=1)
    references: dict[str, FeatureReference] = {
        name: (numeric_reference if name in NUMERIC else categorical_reference)(
            [r[name] for r in snapshot]) for name in FRAUD_INPUT}
    levels = []
    for index in range(args.clean + args.shifted):
        rows = _rows(args.window, seed=1000 + index)
        if index >= args.clean:
            rows = _shift(rows)
        drifts = {n: feature_drift(ref, [r[n] for r in rows], limits)
                  for n, ref in references.items()}
        levels.append(max((d.level for d in drifts.values()),
                          key=("ok", "watch", "drift").index))
    clean, shifted = levels[:args.clean], levels[args.clean:]
    false = sum(level == "drift" for level in clean)
    watched = sum(level == "watch" for level in clean)
    first = next((i + 1 for i, level in enumerate(shifted) if level == "drift"), None)
    print(f"windows of {args.window}: {false} false drift alerts in {args.clean} unshifted "
          f"windows ({false / args.clean:.1%}; {watched} at watch); "
          f"after the shift, drift in window {first} "
          f"({sum(level == 'drift' for level in shifted)} of {args.shifted} shifted windows)")


if __name__ == "__main__":
    main()
