"""The producer/consumer split of a generation (sidecars/cores/generation.py), with a fake model:
steps that count, a lock that others may want, consumers that read, stall, leave or drop it."""
from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator

import pytest

from sidecars.cores.base import GenerateEvent
from sidecars.cores.generation import Generation
from sidecars.errors import SidecarError


class Steps:
    """A fake model: `count` events and a done event, each step taking `step_s`; records its end."""

    def __init__(self, count: int, step_s: float = 0.0, fail_at: int | None = None) -> None:
        self.count, self.step_s, self.fail_at = count, step_s, fail_at
        self.taken = 0
        self.closed = threading.Event()

    def __call__(self) -> Iterator[GenerateEvent]:
        try:
            for i in range(self.count):
                if i == self.fail_at:
                    raise RuntimeError("the model broke")
                time.sleep(self.step_s)
                self.taken += 1
                yield GenerateEvent(str(i), [i])
            yield GenerateEvent("", done=True, stats={"output_tokens": self.count})
        finally:
            self.closed.set()


def acquire_within(lock: threading.Lock, seconds: float) -> bool:
    if lock.acquire(timeout=seconds):
        lock.release()
        return True
    return False


def test_a_consumer_that_reads_gets_every_event_in_order() -> None:
    steps, lock = Steps(100), threading.Lock()
    events = list(Generation(steps(), lock, stall_timeout_s=5, capacity=4))
    assert [e.text for e in events[:-1]] == [str(i) for i in range(100)]
    assert events[-1].done and events[-1].stats == {"output_tokens": 100}
    assert steps.closed.wait(1) and acquire_within(lock, 1)


def test_a_consumer_that_stops_reading_lets_go_of_the_model_then_times_out() -> None:
    steps, lock = Steps(1000), threading.Lock()
    generation = Generation(steps(), lock, stall_timeout_s=1.0, capacity=4)
    first = next(generation)  # the producer runs ahead until its queue is full
    assert first.text == "0"
    assert acquire_within(lock, 0.2), "a stalled consumer still holds the model"
    assert not steps.closed.is_set()
    assert steps.closed.wait(3.0), "the stalled generation was not stopped"
    texts = []
    with pytest.raises(SidecarError) as info:
        for event in generation:
            texts.append(event.text)
    assert info.value.code == "TIMEOUT" and texts == ["1", "2", "3", "4"]  # what was queued, then the end
    assert steps.taken == 6  # the event that found the queue full is dropped, nothing computed after
    assert list(generation) == []


def test_a_consumer_that_is_slow_but_reads_is_not_cut_off() -> None:
    steps, lock = Steps(20), threading.Lock()
    generation = Generation(steps(), lock, stall_timeout_s=0.5, capacity=2)
    texts = []
    for event in generation:
        time.sleep(0.02)  # far slower than the model, never stalled for long
        texts.append(event.text)
    assert texts[:-1] == [str(i) for i in range(20)]


def test_close_stops_the_generation_between_steps() -> None:
    steps, lock = Steps(10_000, step_s=0.001), threading.Lock()
    generation = Generation(steps(), lock, stall_timeout_s=30, capacity=10_000)
    next(generation)
    generation.close()
    assert steps.closed.wait(1.0) and acquire_within(lock, 1.0)
    assert steps.taken < 1000


def test_a_client_that_left_stops_the_generation_while_it_waits_for_the_model() -> None:
    steps, lock = Steps(10), threading.Lock()
    left = threading.Event()
    generation = Generation(steps(), lock, stall_timeout_s=30)
    generation.cancel_when(left.is_set)
    ended: list[str] = []

    def read() -> None:
        try:
            list(generation)
        except SidecarError as exc:
            ended.append(exc.message)

    with lock:  # another request has the model
        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(0.1)
        left.set()
        reader.join(2.0)
        assert not reader.is_alive(), "the consumer still waits for a generation whose client left"
    assert steps.taken == 0 and "client closed" in ended[0]


def test_a_client_that_left_stops_a_running_generation() -> None:
    steps, lock = Steps(10_000, step_s=0.001), threading.Lock()
    left = threading.Event()
    generation = Generation(steps(), lock, stall_timeout_s=30, capacity=10_000)
    generation.cancel_when(left.is_set)
    next(generation)
    left.set()
    with pytest.raises(SidecarError) as info:
        list(generation)
    assert "cancelled" in info.value.message and steps.taken < 1000


def test_a_model_failure_reaches_the_consumer_after_what_was_queued() -> None:
    steps, lock = Steps(10, fail_at=3), threading.Lock()
    texts = []
    with pytest.raises(SidecarError) as info:
        for event in Generation(steps(), lock, stall_timeout_s=30):
            texts.append(event.text)
    assert info.value.code == "MODEL_ERROR" and texts == ["0", "1", "2"]
    assert acquire_within(lock, 1.0)


def test_a_dropped_generation_is_cancelled_and_one_never_read_costs_nothing() -> None:
    steps, lock = Steps(10_000, step_s=0.001), threading.Lock()
    generation = Generation(steps(), lock, stall_timeout_s=30, capacity=10_000)
    next(generation)
    del generation
    gc.collect()
    assert steps.closed.wait(1.0) and steps.taken < 1000
    unread = Steps(5)
    Generation(unread(), lock, stall_timeout_s=30)
    gc.collect()
    assert unread.taken == 0 and acquire_within(lock, 0.1)
