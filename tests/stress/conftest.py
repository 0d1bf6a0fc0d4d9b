"""The stress tests' session totals: the seed at the start, the summary at the end."""

from __future__ import annotations

import pytest
from stress_engine import TALLY, master_seed


def pytest_configure(config: pytest.Config) -> None:
    TALLY.seed = master_seed()


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"ftpool stress seed: {TALLY.seed} (set FTPOOL_STRESS_SEED to replay)"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not sum(TALLY.rounds.values()):
        return
    terminalreporter.section("ftpool stress summary")
    for line in TALLY.summary():
        terminalreporter.line(line)
