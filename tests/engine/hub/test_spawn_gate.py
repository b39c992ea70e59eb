"""Process starts are spread over loop turns, one a turn, in the order they were asked for."""

from __future__ import annotations

import asyncio

from floecli.engine.hub.process import SPAWNS_PER_TURN, SpawnGate


async def test_starts_are_spread_one_turn_each_in_order():
    loop = asyncio.get_running_loop()
    gate = SpawnGate(loop)
    turn = 0
    order: list[tuple[int, int]] = []  # (who, the turn it got through)
    counting = True

    async def count_turns() -> None:
        nonlocal turn
        while counting:
            await asyncio.sleep(0)
            turn += 1

    async def start(who: int) -> None:
        await gate.turn()
        order.append((who, turn))

    counter = asyncio.ensure_future(count_turns())
    await asyncio.gather(*(start(n) for n in range(12)))
    counting = False
    await counter
    assert [who for who, _ in order] == list(range(12))  # first come, first served
    per_turn: dict[int, int] = {}
    for _, at in order:
        per_turn[at] = per_turn.get(at, 0) + 1
    assert max(per_turn.values()) <= SPAWNS_PER_TURN
    assert len(per_turn) >= 12 // SPAWNS_PER_TURN  # and not all in the same turn


async def test_a_cancelled_waiter_gives_its_place_up():
    gate = SpawnGate(asyncio.get_running_loop())
    # All four ask in the same turn: the first gets through, the others wait in order.
    asking = [asyncio.ensure_future(gate.turn()) for _ in range(4)]
    await asyncio.sleep(0)
    assert asking[0].done() and not any(t.done() for t in asking[1:])
    asking[1].cancel()
    await asyncio.wait_for(asyncio.gather(*asking[2:]), 5)
    assert asking[1].cancelled()
