"""Exit with ports whose "message" listeners were all removed (never closed): as in Node, they do
not keep the process alive. A port that still has one does, until it is closed: its messages,
posted late by another thread, are all delivered before the process exits."""

import atexit
import threading
import time

import ftpool

heard: list[int] = []
a, b = ftpool.MessageChannel()
b.on("message", heard.append)
a.post_message(1)
b.off("message", heard.append)  # the listener thread now waits for a message nobody sends
group = ftpool.BroadcastChannel("listeners_removed")
member = ftpool.BroadcastChannel("listeners_removed")
member.on("message", heard.append)
member.off("message", heard.append)

late: list[int] = []
c, d = ftpool.MessageChannel()
d.on("message", late.append)


def post_late() -> None:
    time.sleep(0.3)
    for i in range(100):
        c.post_message(i)
    c.close()


threading.Thread(target=post_late).start()


def report() -> None:
    print("late", len(late))


atexit.register(report)
print("main returns")
