"""Partition locks: a second holder waits until the first is done, and distinct partitions
do not wait for each other (on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time

from sync_platform.store import Store


def test_a_second_holder_waits_for_the_first(store: Store) -> None:
    events: list[str] = []
    first_holds = threading.Event()

    def first() -> None:
        with store.partition_locks(["post:invoice:emea:2026-10-15"]):
            first_holds.set()
            time.sleep(0.3)
            events.append("first done")

    def second() -> None:
        first_holds.wait(5)
        with store.partition_locks(["post:invoice:emea:2026-10-15"]):
            events.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert events == ["first done", "second in"]


def test_other_partitions_do_not_wait(store: Store) -> None:
    entered = threading.Event()
    with store.partition_locks(["post:invoice:emea:2026-10-15"]):

        def other() -> None:
            with store.partition_locks(["post:invoice:emea:2026-10-16"]):
                entered.set()

        thread = threading.Thread(target=other)
        thread.start()
        assert entered.wait(5)
        thread.join(5)


def test_a_lock_is_free_again_after_the_block(store: Store) -> None:
    with store.partition_locks(["a", "b"]):
        pass
    with store.partition_locks(["b", "a"]):
        pass
