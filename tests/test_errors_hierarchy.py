"""The error family: every error ftpool exports is an FtpoolError; the documented second bases
(KeyError, RuntimeError, BrokenThreadPool, CancelledError) hold; QueueFull is a WouldBlock; a
ClosedError says which side closed (PeerClosedError for the other side)."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading

import pytest

import ftpool
from ftpool import (
    BroadcastChannel,
    BrokenPool,
    Cancelled,
    Channel,
    ClosedError,
    FtpoolError,
    MessageChannel,
    PeerClosedError,
    Pool,
    PoolBrokenError,
    PoolClosedError,
    QueueFull,
    UnknownHandlerError,
    Worker,
    WouldBlock,
)

EXPORTED_ERRORS = [
    obj for name in ftpool.__all__
    if isinstance(obj := getattr(ftpool, name), type) and issubclass(obj, BaseException)
    and not issubclass(obj, Warning)
]


def test_the_exported_errors_are_the_documented_family() -> None:
    names = {error.__name__ for error in EXPORTED_ERRORS}
    assert names == {
        "BrokenPool", "Cancelled", "ClosedError", "EndOfChannel", "FtpoolError",
        "PeerClosedError", "PoolBrokenError", "PoolClosedError", "QueueFull", "Terminated",
        "UnknownHandlerError", "WouldBlock",
    }


@pytest.mark.parametrize("error", EXPORTED_ERRORS, ids=lambda e: e.__name__)
def test_every_exported_error_is_an_ftpool_error(error: type[BaseException]) -> None:
    assert issubclass(error, FtpoolError)
    assert issubclass(error, Exception)  # never a BaseException that escapes `except Exception`


@pytest.mark.parametrize(("error", "bases"), [
    (UnknownHandlerError, (KeyError,)),
    (PoolClosedError, (ClosedError, RuntimeError)),
    (PoolBrokenError, (BrokenPool, cf.BrokenExecutor)),
    (Cancelled, (cf.CancelledError,)),
    (QueueFull, (WouldBlock,)),
    (PeerClosedError, (ClosedError,)),
], ids=lambda x: getattr(x, "__name__", "bases"))
def test_the_documented_second_bases(error: type[BaseException],
                                      bases: tuple[type[BaseException], ...]) -> None:
    for base in bases:
        assert issubclass(error, base), f"{error.__name__} is not a {base.__name__}"


def test_cancelled_is_also_a_concurrent_futures_cancellation() -> None:
    exc = Cancelled("stop now")
    assert isinstance(exc, cf.CancelledError)
    assert exc.reason == "stop now"
    assert "stop now" in str(exc)


def test_pool_broken_error_is_the_stdlib_broken_thread_pool() -> None:
    from concurrent.futures.thread import BrokenThreadPool

    assert issubclass(PoolBrokenError, BrokenThreadPool)


def test_submit_after_shutdown_is_a_runtime_error_as_in_thread_pool_executor() -> None:
    pool = Pool(max_workers=1)
    pool.shutdown()
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown") as info:
        pool.submit(abs, -1)
    assert isinstance(info.value, PoolClosedError)
    assert isinstance(info.value, ClosedError)
    assert not isinstance(info.value, PeerClosedError)  # this side shut it down


def test_submit_to_a_broken_pool_is_a_broken_thread_pool(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="concurrent.futures")

    def init() -> None:
        raise ValueError("bad config")

    with Pool(max_workers=1, initializer=init) as pool:
        with pytest.raises(cf.BrokenExecutor) as info:
            pool.submit(abs, -1).result(timeout=10)
        assert isinstance(info.value, PoolBrokenError)
        assert isinstance(info.value, BrokenPool)
        with pytest.raises(PoolBrokenError):
            pool.submit(abs, -1)


def test_unknown_handler_is_a_key_error_and_an_ftpool_error() -> None:
    with Pool(max_workers=1) as pool:
        with pytest.raises(KeyError) as info:
            pool.run(1, name="nope")
        assert isinstance(info.value, UnknownHandlerError)
        assert isinstance(info.value, FtpoolError)
        assert "nope" in str(info.value)
        assert not str(info.value).startswith(("'", '"'))  # not KeyError's quoted repr


def test_a_full_pool_queue_is_a_would_block() -> None:
    gate, started = threading.Event(), threading.Event()

    def hold() -> bool:
        started.set()
        return gate.wait(10)

    with Pool(max_workers=1, max_queue=1) as pool:
        running = pool.submit(hold)
        assert started.wait(10)
        queued = pool.submit(abs, -2)
        with pytest.raises(WouldBlock) as info:
            pool.submit(abs, -3)
        assert isinstance(info.value, QueueFull)
        gate.set()
        assert running.result(timeout=10) is True
        assert queued.result(timeout=10) == 2


def test_a_full_channel_is_a_would_block_but_not_a_queue_full() -> None:
    channel: Channel[int] = Channel(1)
    channel.send_nowait(1)
    with pytest.raises(WouldBlock) as info:
        channel.send_nowait(2)
    assert not isinstance(info.value, QueueFull)


def test_post_after_this_port_closed_is_a_plain_closed_error() -> None:
    port1, _port2 = MessageChannel()
    port1.close()
    with pytest.raises(ClosedError, match="this port was closed") as info:
        port1.post_message("x")
    assert not isinstance(info.value, PeerClosedError)


def test_post_after_the_peer_closed_is_a_peer_closed_error() -> None:
    port1, port2 = MessageChannel()
    port1.close()
    with pytest.raises(PeerClosedError, match="peer"):
        port2.post_message("x")
    with pytest.raises(ClosedError):  # one `except ClosedError` catches every side
        port2.post_message("x")


def test_post_to_an_exited_worker_is_a_peer_closed_error() -> None:
    worker = Worker(lambda: None)
    assert worker.join(10) == 0
    with pytest.raises(PeerClosedError, match="has exited"):
        worker.post_message("x")


def test_post_to_a_worker_that_closed_its_port_is_a_peer_closed_error() -> None:
    closed, done = threading.Event(), threading.Event()

    def target() -> None:
        port = ftpool.parent_port()
        assert port is not None
        port.close()
        closed.set()
        done.wait(10)

    worker = Worker(target)
    try:
        assert closed.wait(10)
        with pytest.raises(PeerClosedError, match="closed its"):
            worker.post_message("x")
    finally:
        done.set()
        worker.join(10)


def test_post_after_closing_a_broadcast_channel_is_a_plain_closed_error() -> None:
    member = BroadcastChannel("test_errors_hierarchy")
    member.close()
    with pytest.raises(ClosedError, match="this object was closed") as info:
        member.post_message("x")
    assert not isinstance(info.value, PeerClosedError)


def test_send_after_close_is_a_closed_error() -> None:
    channel: Channel[int] = Channel()
    channel.close()
    with pytest.raises(ClosedError, match="after close"):
        channel.send(1)
