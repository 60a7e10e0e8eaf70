"""One budget client in a process of its own, for the test that two processes share one
budget through Redis: ``python -m tests.budget_client <redis url> <key prefix> <limit> <count>``
says "ready", waits for a line on stdin, then takes ``count`` turns on one budget and prints
the moment (epoch seconds) of each as a JSON list."""
import asyncio
import json
import sys
import time

from soonish.domain.delivery.pacing import BudgetSettings, Pacer


async def take_turns(url: str, prefix: str, limit: str, count: int) -> list[float]:
    pacer = Pacer(BudgetSettings(storage_url=url, key_prefix=prefix))
    budget = pacer.budget("host:shared.example", limit, "shared.example")
    await pacer.wait_turn([pacer.budget("host:warm-up.example", "1000 per second", "warm-up")])  # connect first
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    turns = []
    for _ in range(count):
        await pacer.wait_turn([budget])
        turns.append(time.time())
    await pacer.close()
    return turns


if __name__ == "__main__":
    url, prefix, limit, count = sys.argv[1:5]
    print(json.dumps(asyncio.run(take_turns(url, prefix, limit, int(count)))), flush=True)
