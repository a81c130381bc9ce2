from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pulse_ray.ids import IdPrefix, created_at, has_prefix, new_id

T0 = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


def test_ids_are_prefixed_url_safe_and_unique() -> None:
    ids = {new_id(IdPrefix.RUN, now=T0) for _ in range(1000)}
    assert len(ids) == 1000
    for value in ids:
        assert value.startswith("run_") and value.replace("_", "").isalnum()
        assert has_prefix(value, IdPrefix.RUN)
        assert not has_prefix(value, IdPrefix.KEY)


def test_ids_sort_by_creation_time() -> None:
    times = [T0 + timedelta(milliseconds=i * 7) for i in range(50)]
    ids = [new_id(IdPrefix.KEY, now=t) for t in times]
    assert sorted(ids) == ids


def test_has_prefix_rejects_lookalikes() -> None:
    good = new_id(IdPrefix.SNAPSHOT, now=T0)
    assert not has_prefix(good + "x", IdPrefix.SNAPSHOT)
    assert not has_prefix("snap_" + "!" * 22, IdPrefix.SNAPSHOT)
    assert not has_prefix("snap", IdPrefix.SNAPSHOT)


def test_created_at_reads_our_ids_and_refuses_lookalikes() -> None:
    assert created_at(new_id(IdPrefix.INFERENCE, now=T0)) == T0
    assert created_at("inf_short") is None
    # Right prefix and width, but more than 128 bits, or a time past year 9999: a
    # client's made-up id, answered as unknown rather than with an overflow.
    assert created_at("inf_zzzzzzzzzzzzzzzzzzzzzz") is None
    assert created_at("inf_7CD0tMAboHChrY9n7wGXQm") is None  # 48 bits: year 10208


def test_ids_made_in_one_millisecond_sort_in_the_order_made() -> None:
    ids = [new_id(IdPrefix.AUDIT, now=T0) for _ in range(200)]
    assert sorted(ids) == ids and len(set(ids)) == 200
    assert {created_at(i) for i in ids} == {T0}
