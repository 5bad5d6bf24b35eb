"""The bounded memo behind the turn path's caches (`tools/memo.py`)."""

from tools.memo import BoundedMemo


def test_it_keeps_the_newest_entries() -> None:
    memo = BoundedMemo(2)
    assert [memo.put(k, k * 10) for k in (1, 2, 3)] == [10, 20, 30]
    assert memo == {2: 20, 3: 30}


def test_storing_a_key_again_drops_nothing_else() -> None:
    memo = BoundedMemo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    memo.put("b", 3)
    assert memo == {"a": 1, "b": 3}
