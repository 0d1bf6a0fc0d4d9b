"""An asyncio server stays responsive while a Pool does its CPU work.

A server-like event loop runs a ticker (a heartbeat every 5 ms, measuring how late each tick
fires) while simulated requests arrive; each request needs CPU work (a counting loop of about
60 ms x --scale). Run twice with the same arrivals and the same work:

* inline: each request computes in the event loop's thread, so every tick waits behind it;
* pool: each request does ``await pool.submit(work)`` (a ``Pool`` future is awaitable), so the
  loop only waits for a ``call_soon_threadsafe`` wake-up and keeps ticking.

It prints, for each run, the worst and median tick lateness and how long the requests took, then
the ratio of the worst latencies. On 3.13t (GIL off) the pool's workers and the loop run in
parallel; with the GIL the workers share one core with the loop and the ticks come later, but
still far sooner than inline.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import ftpool
from ftpool import Pool

from ._timeline import Timeline, demo_parser, iterations_for, spin

WORKERS = 2
TICK_SECONDS = 0.005
REQUESTS = 8
WORK_SECONDS = 0.2  # per request, x --scale (the default scale 0.3 makes it 60 ms)
ARRIVAL_SECONDS = 0.1  # between requests, x --scale

timeline = Timeline()


@dataclass(frozen=True)
class Run:
    """What one run measured (seconds)."""

    worst_tick: float
    median_tick: float
    ticks: int
    elapsed: float
    results: list[int]


async def serve(pool: Pool | None, work: int, gap: float) -> Run:
    """Serve REQUESTS requests arriving every ``gap`` seconds while the ticker runs; compute each
    in ``pool`` (awaited) or inline when ``pool`` is None."""
    loop = asyncio.get_running_loop()
    lateness: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            due = loop.time() + TICK_SECONDS
            await asyncio.sleep(TICK_SECONDS)
            lateness.append(max(0.0, loop.time() - due))

    async def request(i: int) -> int:
        await asyncio.sleep(i * gap)  # arrival
        if pool is None:
            return spin(work)  # blocks the loop for the whole computation
        return await pool.submit(spin, work)  # the loop goes on; woken when it is done

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(2 * TICK_SECONDS)  # the ticker runs before the first request
    started = time.perf_counter()
    results = await asyncio.gather(*(request(i) for i in range(REQUESTS)))
    elapsed = time.perf_counter() - started
    done.set()
    await ticking
    return Run(
        worst_tick=max(lateness),
        median_tick=statistics.median(lateness),
        ticks=len(lateness),
        elapsed=elapsed,
        results=results,
    )


def _report(label: str, run: Run) -> None:
    timeline.log(
        f"{label:6} worst tick late {run.worst_tick * 1e3:7.1f} ms, median "
        f"{run.median_tick * 1e3:5.2f} ms over {run.ticks} ticks; {REQUESTS} requests served "
        f"in {run.elapsed * 1e3:.0f} ms"
    )


def main(argv: list[str]) -> int:
    """Run the demo; returns the exit code."""
    global timeline
    args = demo_parser("asyncio", __doc__ or "").parse_args(argv)
    work = iterations_for(WORK_SECONDS * args.scale)
    gap = ARRIVAL_SECONDS * args.scale
    timeline = Timeline()
    info = ftpool.runtime()
    timeline.log(
        f"{REQUESTS} requests, each ~{WORK_SECONDS * args.scale * 1e3:.0f} ms of CPU work, one "
        f"every {gap * 1e3:.0f} ms; ticker every {TICK_SECONDS * 1e3:.0f} ms "
        f"(GIL {'on' if info.gil_enabled else 'off'})"
    )
    inline = asyncio.run(serve(None, work, gap))
    _report("inline", inline)
    with Pool(max_workers=WORKERS, min_workers=WORKERS) as pool:
        pooled = asyncio.run(serve(pool, work, gap))
    _report("pool", pooled)
    ratio = inline.worst_tick / max(pooled.worst_tick, 1e-6)
    timeline.log(
        f"worst tick: {ratio:.1f}x sooner with the pool (inline {inline.worst_tick * 1e3:.1f} ms, "
        f"pool {pooled.worst_tick * 1e3:.1f} ms)"
    )
    ok = inline.results == pooled.results == [work] * REQUESTS
    timeline.log("same results both ways" if ok else "RESULTS DIFFER")
    return 0 if ok else 1
