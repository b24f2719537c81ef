from __future__ import annotations

import threading
import time

import pytest

from thermocline.concurrency import concurrently


def test_calls_run_side_by_side_and_answer_in_order() -> None:
    # Each call waits for all the others: one at a time, the first would wait forever (BrokenBarrierError).
    barrier = threading.Barrier(4, timeout=10)

    def call(n: int) -> int:
        barrier.wait()
        return n * n

    assert concurrently(call, [3, 1, 2, 0]) == [9, 1, 4, 0]


def test_every_call_ends_before_the_first_error_in_order_is_raised() -> None:
    ended: list[int] = []

    def call(n: int) -> int:
        if n == 1:
            raise KeyError("one")
        if n == 2:
            raise ValueError("two")
        time.sleep(0.2)
        ended.append(n)
        return n

    with pytest.raises(KeyError, match="one"):
        concurrently(call, [0, 1, 2, 3])
    assert sorted(ended) == [0, 3]


def test_no_items_and_one_item_run_in_the_callers_thread() -> None:
    assert concurrently(lambda n: n, []) == []
    assert concurrently(lambda _: threading.current_thread() is threading.main_thread(), [0]) == [True]
