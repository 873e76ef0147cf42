"""TaskSet: background tasks are kept until they end, drained, and cancelled on close."""

from __future__ import annotations

import asyncio
import gc

from auralink.core.tasks import TaskSet


async def test_a_spawned_task_runs_to_the_end_without_another_reference() -> None:
    tasks = TaskSet()
    done = asyncio.Event()

    async def work() -> str:
        await asyncio.sleep(0.01)
        gc.collect()  # the set, not the caller, keeps the task alive
        done.set()
        return "ok"

    tasks.spawn(work(), name="work")
    assert len(tasks) == 1
    await asyncio.wait_for(done.wait(), timeout=5)
    await asyncio.sleep(0)
    assert len(tasks) == 0


async def test_drain_waits_for_tasks_started_by_tasks() -> None:
    tasks = TaskSet()
    seen: list[str] = []

    async def child() -> None:
        await asyncio.sleep(0.01)
        seen.append("child")

    async def parent() -> None:
        await asyncio.sleep(0.01)
        tasks.spawn(child())
        seen.append("parent")

    tasks.spawn(parent())
    await tasks.drain()
    assert seen == ["parent", "child"]


async def test_a_failing_task_does_not_break_drain_or_close() -> None:
    tasks = TaskSet()

    async def fail() -> None:
        raise RuntimeError("its own error")

    task = tasks.spawn(fail())
    await tasks.drain()
    assert isinstance(task.exception(), RuntimeError)
    await tasks.aclose()


async def test_aclose_cancels_and_waits_for_every_task() -> None:
    tasks = TaskSet()
    cleaned: list[int] = []

    async def forever(i: int) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.append(i)

    spawned = [tasks.spawn(forever(i)) for i in range(3)]
    await asyncio.sleep(0)
    await tasks.aclose()
    assert sorted(cleaned) == [0, 1, 2]
    assert all(t.cancelled() for t in spawned)
    assert len(tasks) == 0
