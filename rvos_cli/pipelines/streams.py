"""Work beside the model: iterating a source in a background thread, a bounded number of items ahead."""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator

JOIN_SECONDS = 30


def prefetch(items: Iterable, depth: int = 1) -> Iterator:
    """Iterate `items` in a background thread, at most `depth` ahead; its errors surface here."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def offer(entry) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not offer((item, None)):
                    return
            offer((done, None))
        except BaseException as error:  # handed to the consumer
            offer((done, error))

    thread = threading.Thread(target=produce, daemon=True, name="rvos-decode")
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        # Let the producer finish the item in hand (it stops at the next offer): a thread still inside
        # native decoding code when the interpreter exits (an error, Ctrl-C, SIGTERM) aborts the process.
        thread.join(timeout=JOIN_SECONDS)
