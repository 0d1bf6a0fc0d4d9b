"""Randomized stress of the whole API (stress_engine.py runs the rounds; the rounds and their
invariants are in one module per subject: pool_rounds.py, map_rounds.py, channel_rounds.py,
port_rounds.py, atomics_rounds.py).

Each scenario runs rounds for ``FTPOOL_STRESS_SECONDS`` (2 s in the normal test run; ``nox -s
stress`` runs long) or exactly ``FTPOOL_STRESS_ROUNDS`` rounds; ``FTPOOL_STRESS_SEED`` replays the
random choices. A round that breaks an invariant fails the test with its seed and the replay
command; the session summary (tasks and messages pushed, faults injected, lost / duplicated / hung /
leaked threads) is printed at the end.
"""

from __future__ import annotations

import atomics_rounds
import channel_rounds
import map_rounds
import pool_rounds
import port_rounds
import pytest
from stress_engine import TALLY, Scenario, run_rounds

# Whole-process stress: it swaps threading.excepthook and counts threads, so it runs on one
# test thread (pytest-run-parallel runs it once).
pytestmark = pytest.mark.single_thread

#: Every scenario, by name (a module of rounds adds its own ``SCENARIOS`` here).
SCENARIOS: dict[str, Scenario] = {
    **pool_rounds.SCENARIOS,
    **map_rounds.SCENARIOS,
    **channel_rounds.SCENARIOS,
    **port_rounds.SCENARIOS,
    **atomics_rounds.SCENARIOS,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_stress(scenario: str) -> None:
    def problems() -> tuple[int, ...]:
        return (TALLY.lost, TALLY.duplicated, TALLY.hung, TALLY.leaked, TALLY.violations)

    before = problems()
    rounds = run_rounds(scenario, SCENARIOS[scenario])  # raises on the first bad round
    assert rounds >= 1
    assert problems() == before
