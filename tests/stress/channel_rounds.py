"""Stress rounds for Channel and select: many producers and consumers, bounded and unbounded,
every form of send and receive, close and Worker.terminate mid-stream (see stress_engine.py for
the engine and how to add a round)."""

from __future__ import annotations

import contextlib
import random
import threading
from typing import Any

from stress_engine import WAIT, PhasedRound, Scenario, start_thread

from ftpool import Channel, ClosedError, EndOfChannel, Terminated, Worker, WouldBlock, select

#: How a consumer receives: ``for item in channel``, receive(), receive(timeout=), or
#: receive_nowait() falling back to receive().
CONSUMER_MODES = ("iter", "receive", "timeout", "nowait")


class ChannelRound(PhasedRound):
    """1-4 producers send (blocking, nowait, with a timeout) to 1-4 consumers; the channel may be
    closed mid-stream and some producers and consumers are Workers that get terminated."""

    def setup(self) -> None:
        rnd, rng = self.rnd, self.rng
        self.capacity = rng.choice([0, 0, 1, 2, 3, 8, 64])
        self.channel: Channel[tuple[int, int]] = Channel(self.capacity)
        self.n_producers = rng.randint(1, 4)
        self.n_consumers = rng.randint(1, 4)
        self.per_producer = rng.randint(10, 400)
        self.close_mid = rng.random() < 0.3
        self.trigger_at = rng.randint(0, self.per_producer)
        terminate_some = rng.random() < 0.4
        self.sent: list[list[tuple[int, int]]] = [[] for _ in range(self.n_producers)]
        self.received: list[list[tuple[int, int]]] = [[] for _ in range(self.n_consumers)]
        self.timeouts = 0  # (a racy count: only for the summary)
        self.trigger = threading.Event()  # the disruptor may go
        # (mode, as a Worker) of each consumer; consumer 0 is a plain thread that nobody
        # terminates, so producers never block forever
        self.consumer_plan: list[tuple[str, bool]] = []
        for c in range(self.n_consumers):
            mode = rng.choice(CONSUMER_MODES)
            self.consumer_plan.append((mode, bool(c and terminate_some and rng.random() < 0.6)))
        # (seed, as a Worker) of each producer
        self.producer_plan: list[tuple[int, bool]] = []
        for _ in range(self.n_producers):
            seed = rng.randrange(1 << 30)
            self.producer_plan.append((seed, terminate_some and rng.random() < 0.3))
        n_terminable = sum(w for _, w in self.consumer_plan) + sum(
            w for _, w in self.producer_plan)
        # which of the Workers (consumers first, then producers) the disruptor terminates
        self.victim_plan = [rng.random() < 0.7 for _ in range(n_terminable)]
        self.victims: list[Worker] = []
        self.disruptor: threading.Thread | None = None
        rnd.setup = (f"Channel({self.capacity}), {self.n_producers} producers x "
                     f"{self.per_producer} items, {self.n_consumers} consumers, close mid-stream "
                     f"{self.close_mid} after item {self.trigger_at}, {sum(self.victim_plan)} "
                     f"of {n_terminable} Workers terminated")

    # --- drive -------------------------------------------------------------------------------

    def drive(self) -> None:
        rnd = self.rnd
        producers: list[Any] = []
        consumers: list[Any] = []
        terminable: list[Worker] = []
        for c, (mode, as_worker) in enumerate(self.consumer_plan):
            name = f"stress-ch-consumer-{rnd.label}-{c}"
            if as_worker:
                worker = Worker(self.consume, c, mode, name=name)
                consumers.append(worker)
                terminable.append(worker)
            else:
                consumers.append(start_thread(lambda c=c, mode=mode: self.consume(c, mode),
                                              name))
        for p, (seed, as_worker) in enumerate(self.producer_plan):
            name = f"stress-ch-producer-{rnd.label}-{p}"
            if as_worker:
                worker = Worker(self.produce, p, seed, name=name)
                producers.append(worker)
                terminable.append(worker)
            else:
                producers.append(start_thread(lambda p=p, seed=seed: self.produce(p, seed), name))
        self.victims = [w for w, chosen in zip(terminable, self.victim_plan, strict=True)
                        if chosen]
        self.disruptor = start_thread(self.fault, f"stress-ch-disrupt-{rnd.label}")
        rnd.join(producers, "channel producers")
        self.trigger.set()
        self.channel.close()
        rnd.join([self.disruptor, *consumers], "channel consumers")

    def produce(self, p: int, seed: int) -> None:
        """A producer: send its items, each in a randomly chosen form, until closed."""
        channel = self.channel
        r = random.Random(seed)
        out = self.sent[p]
        for s in range(self.per_producer):
            item = (p, s)
            how = r.random()
            try:
                if how < 0.4:
                    channel.send(item)
                elif how < 0.7:
                    try:
                        channel.send_nowait(item)
                    except WouldBlock:
                        channel.send(item)
                else:
                    while True:
                        try:
                            channel.send(item, timeout=r.choice([0, 0.0002, 0.002]))
                            break
                        except TimeoutError:
                            self.timeouts += 1
            except (ClosedError, Terminated):
                return
            finally:
                if s >= self.trigger_at:
                    self.trigger.set()
            out.append(item)  # only once send returned: no ftpool call in between

    def consume(self, c: int, mode: str) -> None:
        """A consumer: receive in its mode until the end of the channel (or terminated)."""
        channel = self.channel
        got = self.received[c]
        try:
            if mode == "iter":
                for item in channel:
                    got.append(item)
            elif mode == "receive":
                while True:
                    got.append(channel.receive())
            elif mode == "timeout":
                while True:
                    try:
                        got.append(channel.receive(timeout=0.002))
                    except TimeoutError:
                        self.timeouts += 1
            else:
                while True:
                    try:
                        got.append(channel.receive_nowait())
                    except WouldBlock:
                        got.append(channel.receive())
        except (EndOfChannel, Terminated):
            return

    # --- fault -------------------------------------------------------------------------------

    def fault(self) -> None:
        """The disruptor thread: after the trigger item, close the channel (maybe) and
        terminate the victim Workers."""
        self.trigger.wait(WAIT)
        if self.close_mid:
            self.channel.close()
        for worker in self.victims:
            try:
                worker.terminate(timeout=WAIT)
            except TimeoutError:
                self.rnd.problem("hung",
                                 f"{worker.name} did not end within {WAIT} s of terminate()")

    # --- finish and check --------------------------------------------------------------------

    def finish(self) -> None:
        self.channel.close()
        self.trigger.set()

    def check(self) -> None:
        rnd, channel = self.rnd, self.channel
        leftover: list[tuple[int, int]] = []
        with contextlib.suppress(EndOfChannel):
            while True:
                leftover.append(channel.receive_nowait())
        if self.close_mid:
            rnd.fault("channel closed mid-stream")
        rnd.fault("worker terminated", len(self.victims))
        rnd.fault("send/receive timed out", self.timeouts)
        all_sent = [item for out in self.sent for item in out]
        all_received = [item for got in self.received for item in got] + leftover
        what = f"Channel({self.capacity}) {self.n_producers}->{self.n_consumers}"
        rnd.check_uniques(all_sent, all_received, what)
        for c, got in enumerate(self.received):
            last: dict[int, int] = {}
            for p, s in got:
                if s <= last.get(p, -1):
                    rnd.problem("violations", f"{what}: consumer {c} got ({p}, {s}) after "
                                f"({p}, {last[p]}): not FIFO")
                    break
                last[p] = s
        stats = channel.stats()
        if (stats.sent, stats.received, stats.queued) != (len(all_sent), len(all_sent), 0):
            rnd.problem("violations", f"{what}: stats() {stats} after {len(all_sent)} sent")
        if stats.waiting_senders or stats.waiting_receivers or not stats.closed:
            rnd.problem("violations", f"{what}: stats() {stats} after everyone left")
        rnd.tally.messages += len(all_sent)
        rnd.tally.received += len(all_received)
        unexpected = [e for e in rnd.reports if not isinstance(e, Terminated)]
        if unexpected:
            rnd.problem("violations", f"{what}: reported {unexpected!r}")


class SelectRound(PhasedRound):
    """Several channels, one producer each, consumers in select() until all are drained."""

    def setup(self) -> None:
        rng = self.rng
        self.channels: list[Channel[tuple[int, int]]] = [
            Channel(rng.choice([0, 1, 4])) for _ in range(rng.randint(1, 4))
        ]
        self.per = rng.randint(10, 300)
        self.n_consumers = rng.randint(1, 3)
        self.received: list[list[tuple[int, int]]] = [[] for _ in range(self.n_consumers)]
        self.sent: list[list[tuple[int, int]]] = [[] for _ in self.channels]

    def drive(self) -> None:
        rnd = self.rnd
        consumers = [start_thread(lambda c=c: self.consume(c), f"stress-select-{rnd.label}-{c}")
                     for c in range(self.n_consumers)]
        producers = [start_thread(lambda p=p: self.produce(p),
                                  f"stress-select-prod-{rnd.label}-{p}")
                     for p in range(len(self.channels))]
        rnd.join(producers, "select producers")
        rnd.join(consumers, "select consumers")

    def produce(self, p: int) -> None:
        """The producer of channel ``p``: send its items, then close it."""
        channel = self.channels[p]
        for s in range(self.per):
            try:
                channel.send((p, s))
            except ClosedError:
                return
            self.sent[p].append((p, s))
        channel.close()

    def consume(self, c: int) -> None:
        """A consumer: select() over all channels until every one ended (consumer 0 with a
        timeout)."""
        timed_out = 0
        while True:
            try:
                _, item = select(*self.channels, timeout=0.01 if c == 0 else None)
            except EndOfChannel:
                break
            except TimeoutError:
                timed_out += 1
                continue
            self.received[c].append(item)
        self.rnd.fault("select timed out", timed_out)

    def finish(self) -> None:
        for channel in self.channels:
            channel.close()

    def check(self) -> None:
        rnd = self.rnd
        all_sent = [i for s in self.sent for i in s]
        all_received = [i for r in self.received for i in r]
        rnd.check_uniques(all_sent, all_received, f"select over {len(self.channels)} channels")
        rnd.tally.messages += len(all_sent)
        rnd.tally.received += len(all_received)


SCENARIOS: dict[str, Scenario] = {
    "channel": (ChannelRound,),
    "select": (SelectRound,),
}
