"""The command queue, shared fairly between senders.

A plain FIFO lets one client that sends faster than the control thread
applies fill the queue, and every other client's commands wait behind (or
are refused after) thousands of its own. :class:`FairQueue` keeps one lane
per sender (the command's ``source``; commands without one, from MIDI or the
engine itself, share a local lane) and the control thread takes one command
from each lane in turn, so a performer's message waits behind at most one
message of each other sender. Within a lane the order is kept: a bundle's
messages, or a set followed by ``/vamen/state``, arrive as sent.

A sender's lane holds at most ``per_source`` commands; beyond that,
``put`` raises :class:`queue.Full` at once (even a blocking ``put``: waiting
would let one sender hold the queue) and the OSC thread tells the sender the
server is busy. The local lane has no cap of its own. The whole queue still
holds at most ``maxsize``.

It is a :class:`queue.Queue` (built the way the standard library builds
``LifoQueue`` and ``PriorityQueue``, by overriding ``_init``, ``_qsize``,
``_put`` and ``_get``), so ``get(timeout=...)``, ``put_nowait`` and the rest
work as everywhere else.
"""
from __future__ import annotations

import queue
from collections import OrderedDict, deque
from typing import Any

#: Commands one sender may have waiting; a flood beyond this is refused.
PER_SOURCE = 256


class FairQueue(queue.Queue):
    """A bounded queue that serves its senders round-robin.

    Parameters
    ----------
    maxsize : int
        Commands in all lanes together; 0 is unbounded.
    per_source : int
        Commands one network sender may have waiting; 0 is no cap.
    """

    def __init__(self, maxsize: int = 4096, per_source: int = PER_SOURCE) -> None:
        self.per_source = per_source
        super().__init__(maxsize)

    def waiting(self, source: Any) -> int:
        """Commands from ``source`` still waiting."""
        with self.mutex:
            lane = self._lanes.get(source)
            return len(lane) if lane is not None else 0

    def full_for(self, source: Any) -> bool:
        """Whether ``source``'s lane is at its cap: a hint, read without the lock.

        The OSC thread asks before decoding a packet, so a sender that has
        filled its share costs nothing more to refuse.
        """
        lane = self._lanes.get(source)
        return lane is not None and 0 < self.per_source <= len(lane)

    # -- queue.Queue's storage, called with its lock held ------------------------

    def _init(self, maxsize: int) -> None:
        self._lanes: OrderedDict[Any, deque] = OrderedDict()
        self._count = 0

    def _qsize(self) -> int:
        return self._count

    def _put(self, item: Any) -> None:
        source = getattr(item, "source", None)
        lane = self._lanes.get(source)
        if lane is None:
            lane = self._lanes[source] = deque()
        elif source is not None and self.per_source and len(lane) >= self.per_source:
            raise queue.Full
        lane.append(item)
        self._count += 1

    def _get(self) -> Any:
        source, lane = next(iter(self._lanes.items()))
        item = lane.popleft()
        self._count -= 1
        if lane:
            self._lanes.move_to_end(source)  # its next command waits for everyone else's
        else:
            del self._lanes[source]
        return item
