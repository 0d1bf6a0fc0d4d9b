"""Stress rounds for Pool.map and Pool.imap_unordered: ordered and unordered results, chunks,
a bounded queue, an item that raises, an iterator closed early (see stress_engine.py for the
engine and how to add a round)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from stress_engine import WAIT, PhasedRound, Scenario, StressError

from ftpool import Pool, PoolStats


def _square(x: int) -> int:
    if x % 1009 == 13:
        raise StressError(x)
    return x * x


class MapRound(PhasedRound):
    """One map() or imap_unordered() over up to 3000 items, consumed to the end, to the failing
    item, or (closed early) to a third."""

    def setup(self) -> None:
        rng = self.rng
        self.n = n = rng.randint(0, 3000)
        start = rng.randint(0, 2000)
        self.items = list(range(start, start + n))
        self.chunksize = rng.choice([None, None, 1, 3, 64])
        self.max_queue = rng.choice([None, None, 2, 16])
        self.unordered = rng.random() < 0.4
        self.close_early = rng.random() < 0.25
        self.max_workers = rng.randint(1, 4)
        self.expected = [_square(x) if x % 1009 != 13 else None for x in self.items]
        self.fail_at = next((i for i, x in enumerate(self.items) if x % 1009 == 13), None)
        self.where = (f"{'imap_unordered' if self.unordered else 'map'} of {n} items "
                      f"chunksize={self.chunksize} max_queue={self.max_queue}")
        self.got: list[int] = []
        self.error: BaseException | None = None

    def drive(self) -> None:
        rnd = self.rnd
        with Pool(max_workers=self.max_workers, max_queue=self.max_queue,
                  thread_name_prefix=f"stress-map-{rnd.label}") as pool:
            iterator: Iterator[int]
            if self.unordered:
                iterator = pool.imap_unordered(_square, self.items, self.chunksize, timeout=WAIT)
            else:
                iterator = pool.map(_square, self.items, timeout=WAIT, chunksize=self.chunksize)
            try:
                for value in iterator:
                    self.got.append(value)
                    if self.close_early and len(self.got) >= self.n // 3:
                        rnd.fault("map iterator closed early")
                        break
            except StressError as exc:
                self.error = exc
                rnd.fault("map item raised")
            except TimeoutError:
                raise rnd.hung(f"map() gave no result within {WAIT} s") from None
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        self.stats: PoolStats = pool.stats()

    def check(self) -> None:
        rnd, got, expected, where = self.rnd, self.got, self.expected, self.where
        unordered, error, n = self.unordered, self.error, self.n
        if self.close_early and error is None and len(got) >= n // 3 and n:
            pass  # stopped early on purpose: only what was consumed is checked below
        elif self.fail_at is None:
            if error is not None:
                rnd.problem("violations", f"{where}: unexpected {error!r}")
            want = [v for v in expected if v is not None]
            if (sorted(got) if unordered else got) != (sorted(want) if unordered else want):
                rnd.problem("lost", f"{where}: {len(got)} results, expected {len(want)}")
        elif error is None:
            rnd.problem("violations", f"{where}: item {self.items[self.fail_at]} should have "
                        "raised")
        elif not unordered and got != expected[:self.fail_at]:
            rnd.problem("lost", f"{where}: results before the failing item differ")
        if not unordered:
            prefix = expected[: len(got)]
            if got != prefix:
                rnd.problem("violations", f"{where}: results out of order or wrong")
        else:
            valid = Counter(v for v in expected if v is not None)
            extra = Counter(got) - valid
            if extra:
                rnd.problem("duplicated",
                            f"{where}: results that no item gives: {list(extra)[:5]}")
        stats = self.stats
        if stats.queued or stats.running:
            rnd.problem("violations", f"{where}: after close queued={stats.queued} "
                        f"running={stats.running}")
        if self.max_queue is None and stats.completed + stats.failed + stats.cancelled != n:
            rnd.problem("violations", f"{where}: stats count {stats.completed} completed + "
                        f"{stats.failed} failed + {stats.cancelled} cancelled, for {n} items")
        rnd.tally.tasks += stats.completed + stats.failed + stats.cancelled
        rnd.tally.outcomes.update(result=stats.completed, exception=stats.failed,
                                  cancelled=stats.cancelled)


SCENARIOS: dict[str, Scenario] = {
    "map": (MapRound,),
}
