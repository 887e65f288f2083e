"""The OSC guard (allow-list, per-sender token buckets) and the fair command queue.

Time is stepped by hand (the guard takes a clock, as the offline clock
does elsewhere), so the bucket arithmetic is exact and nothing sleeps.
"""
import logging
import queue

import pytest

from vamen.server.core import commands as c
from vamen.server.sources import guard as g
from vamen.server.sources.fairqueue import FairQueue
from vamen.server.sources.guard import Guard, exposure, parse_networks

A, B = ("127.0.0.1", 40001), ("127.0.0.1", 40002)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def admitted(guard, sender, count):
    return sum(guard.admit(sender) for _ in range(count))


def test_a_sender_gets_its_burst_then_its_rate():
    clock = Clock()
    guard = Guard(rate=64, burst=10, clock=clock)  # steps of 1/64 s are exact in binary
    assert admitted(guard, A, 50) == 10  # the burst, then nothing more at this instant
    clock.now += 0.5
    assert admitted(guard, A, 200) == 10  # 0.5 s refills 32 tokens, capped at the burst of 10
    clock.now += 5 / 64
    assert admitted(guard, A, 200) == 5
    assert guard.health()["osc_dropped"] == 40 + 190 + 195


def test_one_sender_flooding_leaves_another_untouched():
    clock = Clock()
    guard = Guard(rate=64, burst=10, clock=clock)
    for _ in range(20):
        clock.now += 1 / 64
        admitted(guard, A, 1000)  # a flood: 100,000 messages a second
        assert admitted(guard, B, 1) == 1  # a performer, once every 10 ms
    assert guard.drops() == [("127.0.0.1:40001", "rate", 20 * 1000 - 10 - 19)]


def test_many_flooders_share_the_total_and_a_light_sender_is_never_held_back():
    clock = Clock()
    guard = Guard(rate=1024, burst=64, total=1024, clock=clock)
    floods = [("127.0.0.1", 50000 + i) for i in range(8)]  # 8 x 1024 a second would be 8192
    heard = {sender: 0 for sender in floods}
    light = 0
    for step in range(1024):  # one second in steps of 1/1024 s
        clock.now += 1 / 1024
        for sender in floods:
            heard[sender] += admitted(guard, sender, 4)  # 4096 a second each
        if step % 16 == 0:
            light += admitted(guard, B, 1)  # 64 a second: a performer
    assert light == 64  # every one
    together = sum(heard.values())
    # the total, plus each one's burst (and a little refill before it counted as heavy);
    # per-sender limits alone would have let 8 x 1024 through
    assert together <= 1024 + 8 * 64 * 1.25
    assert min(heard.values()) > 0.8 * max(heard.values())  # split evenly
    assert {(reason, name == "127.0.0.1:40002") for name, reason, _ in guard.drops()} == {("load", False)}


def test_a_bundle_pays_for_every_message():
    clock = Clock()
    guard = Guard(rate=64, burst=10, clock=clock)
    assert guard.admit(A)
    guard.charge(A, 29)  # a bundle of 30 messages: 9 tokens were left, now 20 in debt
    clock.now += 20 / 64  # 20 tokens: the debt is paid, nothing to spend
    assert not guard.admit(A)
    clock.now += 1 / 64
    assert guard.admit(A)


def test_rate_zero_is_no_limit():
    guard = Guard(rate=0)
    assert admitted(guard, A, 10_000) == 10_000
    assert guard.health()["osc_dropped"] == 0


def test_allow_list_lets_in_listed_networks_and_this_machine_only():
    guard = Guard(allow=["192.168.1.0/24", "10.0.0.7", "fd00::/8"], rate=0)
    assert guard.allows("192.168.1.77") and guard.allows("10.0.0.7")
    assert guard.allows("::ffff:192.168.1.5")  # IPv4 mapped into IPv6 (a server bound to ::)
    assert guard.allows("fd00::1") and guard.allows("fe80::1%eth0") is False
    assert guard.allows("127.0.0.1") and guard.allows("::1")  # `vamen status` keeps working
    assert not guard.allows("127.0.0.2") and not guard.allows("10.0.0.8")
    assert not guard.allows("not an address")
    assert not guard.admit(("10.0.0.8", 9000)) and guard.admit(("10.0.0.7", 9000))
    assert guard.health()["osc_denied"] == 1
    assert Guard().allows("203.0.113.9")  # no list: everyone


@pytest.mark.parametrize("entry", ["192.168.1.0/33", "nonsense", "10.0.0.1/8/2", ""])
def test_bad_allow_entries_are_one_sentence(entry):
    with pytest.raises(ValueError, match="is not an IP address or network"):
        parse_networks([entry])


def test_bounded_memory_and_labels_under_a_port_scan():
    clock = Clock()
    guard = Guard(allow=["10.0.0.0/8"], rate=1, burst=1, clock=clock)
    for port in range(5000):  # a sender changing its port for every packet
        guard.admit(("10.1.2.3", port))
        guard.admit(("10.1.2.3", port))
        guard.admit(("172.16.0.1", port))
    assert len(guard._buckets) <= g.MAX_SENDERS
    rows = guard.drops()
    assert len(rows) <= g.MAX_LISTED + 3
    assert sum(count for _, _, count in rows) == 10_000
    assert ("other", "rate") in {(name, reason) for name, reason, _ in rows}
    assert len(guard.health()["osc_dropped_by"].split(",")) <= 8


def test_drops_are_logged_once_per_sender_per_interval(caplog):
    clock = Clock()
    guard = Guard(allow=["10.0.0.0/8"], rate=10, burst=1, clock=clock)
    with caplog.at_level(logging.WARNING, logger="vamen.server.sources.guard"):
        for step in range(int(3 * g.REPORT_SECONDS * 100)):  # 30 s at 100 packets a second each
            clock.now += 0.01
            for _ in range(10):
                guard.admit(A)
            guard.admit(("192.0.2.1", 7))
    lines = [r.getMessage() for r in caplog.records]
    assert 4 <= len(lines) <= 6, lines  # two senders, about three intervals: not 30,000 lines
    assert any("127.0.0.1:40001" in line and "over its rate limit" in line for line in lines)
    assert any("192.0.2.1:7" in line and "not on the allow-list" in line for line in lines)


def test_exposure_notes():
    assert exposure("127.0.0.1", None) is None
    assert "anyone who can reach this machine" in exposure("0.0.0.0", None)
    assert "allow" in exposure("::", None)
    assert exposure("0.0.0.0", parse_networks(["192.168.1.0/24"])) == \
        "OSC accepts only this machine and 192.168.1.0/24"
    assert exposure("0.0.0.0", ()) == "OSC accepts only this machine (the allow-list is empty)"


# -- the fair queue -------------------------------------------------------------------------


def cmd(source, n):
    return c.SetCoord(0, float(n), source=source)


def test_the_queue_takes_turns_and_keeps_each_senders_order():
    q = FairQueue(maxsize=100, per_source=50)
    for n in range(40):
        q.put_nowait(cmd(A, n))  # a flooder got there first
    q.put_nowait(cmd(B, 0))
    q.put_nowait(cmd(B, 1))
    q.put_nowait(c.Play())  # MIDI: no source
    taken = [q.get_nowait() for _ in range(6)]
    assert [(t.source, getattr(t, "value", None)) for t in taken] == [
        (A, 0.0), (B, 0.0), (None, None), (A, 1.0), (B, 1.0), (A, 2.0)]
    assert q.qsize() == 37 and q.waiting(A) == 37 and q.waiting(B) == 0


def test_one_sender_cannot_fill_the_queue():
    q = FairQueue(maxsize=100, per_source=8)
    for n in range(8):
        q.put_nowait(cmd(A, n))
    assert q.full_for(A) and not q.full_for(B)
    with pytest.raises(queue.Full):
        q.put_nowait(cmd(A, 8))
    with pytest.raises(queue.Full):
        q.put(cmd(A, 8), timeout=5)  # refused at once, not after 5 s
    q.put_nowait(cmd(B, 0))  # others still get in
    while q.qsize() < 100:
        q.put_nowait(c.Play())  # the local lane (MIDI, the engine) has no cap of its own
    with pytest.raises(queue.Full):
        q.put_nowait(cmd(B, 1))  # the whole queue is still bounded


def test_the_queue_works_as_a_queue_across_threads():
    import threading

    q = FairQueue()
    got = []
    reader = threading.Thread(target=lambda: got.extend(q.get(timeout=2) for _ in range(3)))
    reader.start()
    for n in range(3):
        q.put(cmd(A, n))
    reader.join(3)
    assert [t.value for t in got] == [0.0, 1.0, 2.0]
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
