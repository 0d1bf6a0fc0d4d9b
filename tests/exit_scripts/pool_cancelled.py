"""Exit right after shutdown(wait=False, cancel_futures=True) and terminate() with work queued:
queued futures end cancelled, running tasks end (a cooperative one cancelled), nothing hangs."""

import atexit
import threading

import ftpool
from ftpool._context import current_state

started = threading.Event()


def cooperative() -> str:
    """Runs until its token is cancelled (woken by the token, then stopped by the check)."""
    state = current_state()
    assert state is not None
    assert state.task_token is not None
    woken = threading.Event()
    if not state.task_token.add_callback(lambda _reason: woken.set()):
        woken.set()
    started.set()
    woken.wait(30)
    ftpool.check_cancelled()
    return "not cancelled"


gate = threading.Event()
a = ftpool.Pool(max_workers=1)
running = a.submit(gate.wait, 5)
queued = [a.submit(abs, -i) for i in range(100)]
a.shutdown(wait=False, cancel_futures=True)
gate.set()

b = ftpool.Pool(max_workers=1)
busy = b.submit(cooperative)
waiting = [b.submit(abs, i) for i in range(100)]
started.wait(5)
b.terminate()


def report() -> None:
    print("running", running.result(), "queued cancelled", sum(f.cancelled() for f in queued),
          "busy cancelled", busy.cancelled(), "waiting cancelled",
          sum(f.cancelled() for f in waiting))


atexit.register(report)
