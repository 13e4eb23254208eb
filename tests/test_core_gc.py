"""Pending items kept out of the young GC generations (``LaneTable(untracked_type=...)``).

The compiled table untracks pending items of ``untracked_type`` and tracks them again on every
way out and before every full collection; the twin accepts the argument and keeps everything
tracked. Either way, no garbage cycle through a pending command may outlive ``gc.collect()``.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import weakref
from types import SimpleNamespace
from typing import Any

import pytest

from lanecore import LaneConfig, QueueManagerBuilder


class Item:
    """A GC-tracked item that can point back at the table holding it."""

    def __init__(self, tag: int = 0) -> None:
        self.tag = tag
        self.table: Any = None


def untracks(core: SimpleNamespace) -> bool:
    """Whether this core really untracks pending items on this interpreter."""
    return bool(importlib.import_module(core.LaneTable.__module__).UNTRACKS_PENDING)


def table_with(core: SimpleNamespace, *items: Item) -> Any:
    table = core.LaneTable(untracked_type=Item)
    lane = table.add_lane(0, 1, 100)
    for item in items:
        table.push(lane, item)
    return table


def test_pending_items_are_untracked_until_they_leave(core: SimpleNamespace) -> None:
    popped, removed, taken, other = Item(1), Item(2), Item(3), Item(4)
    table = core.LaneTable(untracked_type=Item)
    lane = table.add_lane(0, 1, 100)
    table.push(lane, popped)
    ticket = table.push(lane, removed)
    table.push(lane, taken)
    table.push(lane, [other])  # not of the untracked type: stays tracked
    assert [gc.is_tracked(i) for i in (popped, removed, taken)] == [not untracks(core)] * 3
    assert table.pop_ready() is popped and gc.is_tracked(popped)
    assert table.remove(lane, ticket) is removed and gc.is_tracked(removed)
    assert table.take_all(lane)[0] is taken and gc.is_tracked(taken)
    assert table.untracked_type is Item


def test_items_are_tracked_again_when_the_table_goes(core: SimpleNamespace) -> None:
    item = Item()
    table = table_with(core, item)
    del table
    gc.collect()
    assert gc.is_tracked(item)


def test_full_collection_tracks_pending_items_and_young_ones_do_not(
    core: SimpleNamespace,
) -> None:
    item = Item()
    table = table_with(core, item)
    gc.collect(0)
    gc.collect(1)
    assert gc.is_tracked(item) is not untracks(core)
    gc.collect()
    assert gc.is_tracked(item)
    assert table.pop_ready() is item


def test_a_garbage_cycle_through_a_pending_item_is_collected(core: SimpleNamespace) -> None:
    item = Item()
    table = table_with(core, item)
    item.table = table  # item -> table -> (pending) item
    ref = weakref.ref(item)
    del item, table
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("bad", [Item(), 3, "Item"])
def test_untracked_type_must_be_a_type(core: SimpleNamespace, bad: object) -> None:
    with pytest.raises(TypeError, match="untracked_type must be a type"):
        core.LaneTable(untracked_type=bad)


@pytest.mark.parametrize("not_gc", [int, str, float])
def test_untracked_type_must_be_gc_tracked(core: SimpleNamespace, not_gc: type) -> None:
    with pytest.raises(TypeError, match="cyclic GC tracks"):
        core.LaneTable(untracked_type=not_gc)


@pytest.mark.parametrize("started", [False, True], ids=["idle", "started"])
def test_a_dropped_manager_with_pending_commands_is_collected(
    core: SimpleNamespace, started: bool
) -> None:
    """Commands whose closures hold the manager, never run: manager, handles and closures
    form one garbage cycle once the caller lets go, and the full collection frees it all."""

    async def main() -> tuple[weakref.ref[Any], weakref.ref[Any]]:
        manager = (
            QueueManagerBuilder()
            .with_implementation(core.name)
            .with_lane("work", LaneConfig(1, 1), 0)
            .build()
        )
        gate = asyncio.Event()

        async def blocked() -> None:
            await gate.wait()

        async def holds_manager() -> Any:
            return manager.stats

        if started:
            await manager.start()
            manager.submit("work", blocked)
        handles = [manager.submit("work", holds_manager) for _ in range(50)]
        await asyncio.sleep(0)
        assert not handles[0].done()
        return weakref.ref(manager), weakref.ref(handles[-1])

    manager_ref, handle_ref = asyncio.run(main())
    gc.collect()
    assert manager_ref() is None
    assert handle_ref() is None


def test_handles_are_tracked_once_they_run_or_are_cancelled(
    core: SimpleNamespace, run: Any
) -> None:
    async def main() -> None:
        manager = (
            QueueManagerBuilder()
            .with_implementation(core.name)
            .with_lane("work", LaneConfig(1, 1), 0)
            .build()
        )

        async def noop() -> int:
            return 1

        handles = manager.submit_many("work", [noop] * 20)
        assert all(gc.is_tracked(h) is not untracks(core) for h in handles)
        handles[5].cancel()
        assert gc.is_tracked(handles[5])
        async with manager:
            assert await asyncio.gather(*handles[6:]) == [1] * 14
            assert all(gc.is_tracked(h) for h in handles)

    run(main())
