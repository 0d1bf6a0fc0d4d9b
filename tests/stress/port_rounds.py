"""Stress rounds for the ports: a MessageChannel with listeners and receivers and a close
mid-stream, a Worker that echoes while its creator terminates it, BroadcastChannel members that
all post and all hear (see stress_engine.py for the engine and how to add a round)."""

from __future__ import annotations

import contextlib
import threading

from stress_engine import WAIT, PhasedRound, Scenario, StressError, start_thread

from ftpool import BroadcastChannel, ClosedError, EndOfChannel, MessageChannel, Worker, parent_port


class PortRound(PhasedRound):
    """Posters on port ``a``; on port ``b`` a 'message' listener (which may raise) and/or
    receivers; either side may be closed mid-stream."""

    def setup(self) -> None:
        rnd, rng = self.rnd, self.rng
        self.a, self.b = MessageChannel(name=f"stress-{rnd.label}")
        self.n_posters = rng.randint(1, 3)
        self.per = rng.randint(10, 400)
        self.use_listener = rng.random() < 0.7
        self.n_receivers = rng.randint(0 if self.use_listener else 1, 2)
        self.raise_every = rng.choice([0, 0, 7, 50])
        self.close_mid = rng.random() < 0.3
        self.close_side = rng.choice([self.a, self.b])
        self.trigger_at = rng.randint(0, self.per)
        self.trigger = threading.Event()  # the closer may go
        self.posted: list[list[tuple[int, int]]] = [[] for _ in range(self.n_posters)]
        self.heard: list[tuple[int, int]] = []  # by the listener
        self.raised = 0  # listener errors raised on purpose
        self.got: list[list[tuple[int, int]]] = [[] for _ in range(self.n_receivers)]
        self.closes: list[str] = []  # which ports' 'close' listeners fired
        if self.use_listener:
            self.b.on("message", self.listener)
        self.b.on("close", lambda: self.closes.append("b"))
        self.a.on("close", lambda: self.closes.append("a"))
        rnd.setup = (f"MessageChannel, {self.n_posters} posters x {self.per}, listener "
                     f"{self.use_listener}, {self.n_receivers} receivers, raise every "
                     f"{self.raise_every}, close mid-stream {self.close_mid}")

    # --- drive -------------------------------------------------------------------------------

    def drive(self) -> None:
        rnd, a, b = self.rnd, self.a, self.b
        receivers = [start_thread(lambda r=r: self.receive(r),
                                  f"stress-port-recv-{rnd.label}-{r}")
                     for r in range(self.n_receivers)]
        posters = [start_thread(lambda p=p: self.post(p), f"stress-port-post-{rnd.label}-{p}")
                   for p in range(self.n_posters)]
        closers = ([start_thread(self.fault, f"stress-port-close-{rnd.label}")]
                   if self.close_mid else [])
        rnd.join(posters, "port posters")
        self.trigger.set()
        rnd.join(closers, "port closer")
        a.close()
        if not b.wait_closed(timeout=WAIT) or not a.wait_closed(timeout=WAIT):
            raise rnd.hung(f"port listener thread did not end within {WAIT} s")
        rnd.join(receivers, "port receivers")

    def listener(self, message: tuple[int, int]) -> None:
        self.heard.append(message)  # the listener thread is the only writer
        if self.raise_every and message[1] % self.raise_every == 0:
            self.raised += 1
            raise StressError(f"listener raised on {message}")

    def post(self, p: int) -> None:
        """A poster: post its messages on ``a`` until the channel is closed."""
        for s in range(self.per):
            try:
                self.a.post_message((p, s))
            except ClosedError:
                return
            finally:
                if s >= self.trigger_at:
                    self.trigger.set()
            self.posted[p].append((p, s))

    def receive(self, r: int) -> None:
        """A receiver on ``b`` (odd ones iterate, even ones call receive())."""
        mine = self.got[r]
        with contextlib.suppress(EndOfChannel):
            if r % 2:
                for message in self.b:
                    mine.append(message)
            else:
                while True:
                    mine.append(self.b.receive())

    # --- fault, finish, check ----------------------------------------------------------------

    def fault(self) -> None:
        """The closer thread: close one side once the trigger item was posted."""
        self.trigger.wait(WAIT)
        self.close_side.close()

    def finish(self) -> None:
        self.a.close()

    def check(self) -> None:
        rnd = self.rnd
        if self.close_mid:
            rnd.fault("port closed mid-stream")
        rnd.fault("listener raised", self.raised)
        all_posted = [m for p in self.posted for m in p]
        all_got = self.heard + [m for r in self.got for m in r]
        what = (f"MessageChannel {self.n_posters} posters -> listener={self.use_listener} + "
                f"{self.n_receivers} receivers")
        rnd.check_uniques(all_posted, all_got, what)
        if self.use_listener:
            last: dict[int, int] = {}
            for p, s in self.heard:
                if s <= last.get(p, -1):
                    rnd.problem("violations", f"{what}: listener heard ({p}, {s}) out of order")
                    break
                last[p] = s
        if sorted(self.closes) != ["a", "b"]:
            rnd.problem("violations",
                        f"{what}: 'close' listeners fired {self.closes}, want each once")
        reports = [e for e in rnd.reports if isinstance(e, StressError)]
        if len(reports) != self.raised or len(rnd.reports) != len(reports):
            rnd.problem("violations", f"{what}: {self.raised} listener errors, reported "
                        f"{rnd.reports!r}")
        rnd.tally.messages += len(all_posted)
        rnd.tally.received += len(all_got)


def _echo() -> None:
    port = parent_port()
    assert port is not None
    for message in port:
        if message is None:
            return
        port.post_message(message)


class WorkerEchoRound(PhasedRound):
    """A Worker echoes what it gets; the creator terminates it at a random point or ends it."""

    def setup(self) -> None:
        rnd, rng = self.rnd, self.rng
        self.n = rng.randint(1, 300)
        self.terminate_at = rng.randint(0, self.n) if rng.random() < 0.5 else None
        self.echoes: list[int] = []
        self.use_listener = rng.random() < 0.5
        self.exits: list[int] = []
        self.worker = Worker(_echo, name=f"stress-echo-{rnd.label}")
        if self.use_listener:
            self.worker.on("message", self.echoes.append)
        self.worker.on("exit", self.exits.append)
        self.posted = 0
        self.code: int | None = None

    def drive(self) -> None:
        try:
            self.post_and_end()
            if not self.use_listener:
                with contextlib.suppress(EndOfChannel):
                    while True:
                        self.echoes.append(self.worker.receive(timeout=WAIT))
            self.code = self.worker.join(WAIT)
            if self.code is None:
                raise self.rnd.hung(
                    f"echo worker did not exit within {WAIT} s (n={self.n}, terminate_at="
                    f"{self.terminate_at}, listener={self.use_listener}, posted={self.posted}, "
                    f"echoes={len(self.echoes)})")
        except TimeoutError:
            raise self.rnd.hung(f"echo worker did not answer within {WAIT} s") from None

    def post_and_end(self) -> None:
        """Post 0, 1, ... (terminating the worker at ``terminate_at``); then post the end
        (None), or terminate it now if the loop never reached ``terminate_at``."""
        for i in range(self.n):
            if i == self.terminate_at:
                code = self.fault()
                if code not in (0, 1):
                    self.rnd.problem("violations", f"terminated echo worker exit code {code}")
            try:
                self.worker.post_message(i)
            except ClosedError:
                break
            self.posted += 1
        if self.terminate_at is None:
            self.worker.post_message(None)
        elif self.terminate_at >= self.n:  # the loop never reached it
            self.fault()

    def fault(self) -> int | None:
        """Terminate the echo worker (from the creator's thread, mid-stream)."""
        self.rnd.fault("worker terminated")
        return self.worker.terminate(timeout=WAIT)

    def finish(self) -> None:
        with contextlib.suppress(TimeoutError):
            self.worker.terminate(timeout=WAIT)

    def check(self) -> None:
        rnd, echoes, posted = self.rnd, self.echoes, self.posted
        if echoes != list(range(len(echoes))):
            rnd.problem("violations", f"echo worker: echoes are not the posted prefix: "
                        f"{echoes[:10]}...")
        if self.terminate_at is None and len(echoes) != posted:
            rnd.problem("lost", f"echo worker: {posted} posted, {len(echoes)} echoed",
                        posted - len(echoes))
        if self.exits != [self.code]:
            rnd.problem("violations",
                        f"echo worker: 'exit' fired {self.exits}, exit code {self.code}")
        rnd.tally.messages += posted + len(echoes)
        rnd.tally.received += (posted + len(echoes) if self.terminate_at is None
                               else len(echoes) * 2)


class BroadcastRound(PhasedRound):
    """2-4 members of one BroadcastChannel each post, then hear every other member's posts
    (through a 'message' listener or receive())."""

    def setup(self) -> None:
        rnd, rng = self.rnd, self.rng
        name = f"stress-broadcast-{rnd.label}"
        self.k = k = rng.randint(2, 4)
        self.per = rng.randint(1, 100)
        self.members = [BroadcastChannel(name) for _ in range(k)]
        self.inbox: list[list[tuple[int, int]]] = [[] for _ in range(k)]
        self.listening = [i for i in range(k) if rng.random() < 0.4]
        for i in self.listening:
            self.members[i].on("message", self.inbox[i].append)
        self.posted = threading.Barrier(k)  # every member posted

    def drive(self) -> None:
        rnd = self.rnd
        threads = [start_thread(lambda i=i: self.member(i), f"stress-bc-{rnd.label}-{i}")
                   for i in range(self.k)]
        rnd.join(threads, "broadcast members")

    def member(self, i: int) -> None:
        """Member ``i``: post, wait for the others, then receive (if it has no listener)."""
        k, per, me = self.k, self.per, self.members[i]
        for s in range(per):
            me.post_message((i, s))
        self.posted.wait(WAIT)
        if i not in self.listening:
            for _ in range((k - 1) * per):
                self.inbox[i].append(me.receive(timeout=WAIT))

    def finish(self) -> None:
        for m in self.members:
            m.close()

    def check(self) -> None:
        rnd, k, per = self.rnd, self.k, self.per
        for m in self.members:
            if not m.wait_closed(timeout=WAIT):
                raise rnd.hung("broadcast listener thread did not end")
        for i in range(k):
            want = [(j, s) for j in range(k) if j != i for s in range(per)]
            rnd.check_uniques(want, self.inbox[i], f"BroadcastChannel member {i} of {k}")
        rnd.tally.messages += k * (k - 1) * per  # each post is a message to every other member
        rnd.tally.received += sum(map(len, self.inbox))


SCENARIOS: dict[str, Scenario] = {
    "ports": (PortRound, WorkerEchoRound, BroadcastRound),
}
