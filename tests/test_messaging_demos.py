"""The messaging demos run, print the article's lines with timestamps and thread names."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from ftpool.demos import DEMOS, basic, message_channel, producer_consumer

LINE = re.compile(r"^\s*(\d+\.\d\d)ms  (\S.*?)\s{2,}(\S.*)$")


def parse(output: str) -> list[tuple[float, str, str]]:
    """(ms, thread, text) per line; fails on a line without the timestamp format."""
    rows = []
    for line in output.splitlines():
        match = LINE.match(line)
        assert match, f"not a timestamped line: {line!r}"
        rows.append((float(match[1]), match[2].strip(), match[3]))
    times = [ms for ms, _, _ in rows]
    assert times == sorted(times)  # stamped and printed under one lock: in order
    return rows


def test_demos_are_registered() -> None:
    assert DEMOS["basic"][0] == "basic"
    assert DEMOS["producer-consumer"][0] == "producer_consumer"
    assert DEMOS["message-channel"][0] == "message_channel"


def test_basic(capsys: pytest.CaptureFixture[str]) -> None:
    assert basic.main(["--scale", "0.01"]) == 0
    rows = parse(capsys.readouterr().out)
    texts = [text for _, _, text in rows]
    assert texts[-1].startswith("Worker exited with code 0")
    by_text = {text.split(":")[0].split(" with")[0]: thread for _, thread, text in rows}
    assert by_text["Main thread can still do other work"] == "main"
    assert by_text["Worker thread is running"] == "worker"
    assert by_text["Worker thread will count to"] == "worker"
    assert by_text["Message from worker"] == "worker/creator listener"
    assert any(text == "Message from worker: done" for text in texts)
    assert any("count_to" in text for text in texts)


@pytest.mark.parametrize("demo", [producer_consumer, message_channel])
def test_producer_consumer_demos(demo: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--scale", "0.01"]) == 0  # type: ignore[attr-defined]
    rows = parse(capsys.readouterr().out)
    texts = [text for _, _, text in rows]
    consumed = [text for text in texts if text.startswith("Consumed: ")]
    assert consumed == [f"Consumed: {i}" for i in range(5)]  # every item, in order
    if demo is producer_consumer:
        produced = [text for text in texts if text.startswith("Produced: ")]
        assert produced == [f"Produced: {i}" for i in range(5)]
    assert "Producer exited" in texts
    assert "Consumer exited" in texts
    assert texts[-1].startswith("Main process exited")
    assert rows[-1][1] == "main"
    threads = {thread for _, thread, _ in rows}
    assert {"main", "producer", "consumer"} <= threads  # which thread did what


def test_scale_option_is_validated(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        basic.main(["--scale", "0"])
    assert "--scale must be > 0" in capsys.readouterr().err


def test_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ftpool", "demo", "message-channel", "--scale", "0.01"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Consumed: 4" in result.stdout
    listing = subprocess.run(
        [sys.executable, "-m", "ftpool", "demo", "--list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    for name in ("basic", "producer-consumer", "message-channel"):
        assert name in listing.stdout
