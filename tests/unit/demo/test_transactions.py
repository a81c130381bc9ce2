from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from pulse_ray.demo.transactions import load, transactions


def test_fraud_is_rare_and_the_data_is_reproducible() -> None:
    table = transactions(50_000, seed=1)
    rate = pc.mean(pc.cast(table["is_fraud"], "float64")).as_py()
    assert 0.01 <= rate <= 0.02
    assert table.equals(transactions(50_000, seed=1))
    assert not table.equals(transactions(50_000, seed=2))


def test_the_signal_is_learnable_but_no_single_feature_gives_it_away() -> None:
    table = transactions(100_000, seed=4)
    fraud = table["is_fraud"].to_numpy(zero_copy_only=False)
    ratio = np.log(table["transaction_amount"].to_numpy() / table["avg_amount_30d"].to_numpy())
    order = np.argsort(ratio)
    ranks = np.empty(len(ratio))
    ranks[order] = np.arange(len(ratio))
    positives = fraud.sum()
    auc = (ranks[fraud].sum() - positives * (positives - 1) / 2) / (
        positives * (len(fraud) - positives))
    assert 0.6 < auc < 0.9


def test_load_replaces_the_table(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    load(transactions(500), str(path))
    load(transactions(300), str(path))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM transactions").fetchone() == (300,)
