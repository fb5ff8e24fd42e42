"""A process taking part in cross-process cohorts (run by test_cohort_gate.py).

    python -m tests.intercepts.gate_worker REDIS_URL PREFIX HOLD_S COHORT...

REDIS_URL may name a Redis Cluster (``redis+cluster://``; PREFIX braced then).

Connects, prints ``ready``, and waits for a line on standard input (the test
sends it once every worker is ready, so a worker slow to start on a busy
machine does not join after the others' cohorts ended); then joins every
cohort at once, and as primer holds for HOLD_S then releases (a negative
HOLD_S: dies without releasing); as follower waits for the release. Prints
one JSON line per cohort.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from adaptive.intercepts import CohortRole, RedisCohortGate


async def take_part(gate: RedisCohortGate, cohort: str, hold_s: float) -> dict[str, object]:
    role = await gate.join(cohort)
    if role is CohortRole.PRIMER:
        if hold_s < 0:
            return {"cohort": cohort, "role": role.value}
        await asyncio.sleep(hold_s)
        released_at = time.time()
        await gate.release(cohort)
        return {"cohort": cohort, "role": role.value, "released_at": released_at}
    started = time.monotonic()
    released = await gate.wait(cohort)
    return {
        "cohort": cohort,
        "role": role.value,
        "released": released,
        "waited_s": time.monotonic() - started,
        "resumed_at": time.time(),
    }


async def main(url: str, prefix: str, hold_s: float, cohorts: list[str]) -> None:
    gate = RedisCohortGate.from_url(url, key_prefix=prefix)
    await gate.client.ping()
    print("ready", flush=True)
    sys.stdin.readline()
    results = await asyncio.gather(*(take_part(gate, cohort, hold_s) for cohort in cohorts))
    for result in results:
        print(json.dumps(result), flush=True)
    if hold_s < 0:
        os._exit(0)  # die holding the gates: no release, no cleanup
    await gate.aclose()


if __name__ == "__main__":
    url, prefix, hold_s, *cohorts = sys.argv[1:]
    asyncio.run(main(url, prefix, float(hold_s), cohorts))
