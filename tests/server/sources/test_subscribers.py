"""Subscribers that quit are forgotten; a host that does not resolve is refused at once."""
import socket
import time

import pytest

from vamen.model.loopmodel import LoopModel
from vamen.server.core.control import MAX_SUBSCRIBERS
from vamen.server.core.talkback import Subscribers
from vamen.server.engine import Engine
from vamen.server.options import ServeOptions

from oscclient import Client, message
from waiting import wait_for

EXPIRY = 6.0  # seconds: short, so the test does not wait the default minute


@pytest.fixture
def server(tiny_model, tmp_path):
    options = ServeOptions(sinks=("file",), record=tmp_path / "rec.wav", osc_port=0, sample_rate=22050,
                           presets=tmp_path / "presets.json", subscription_expiry=EXPIRY)
    engine = Engine(options, LoopModel.load(tiny_model, "cpu")).start()
    asker = Client(engine.osc)
    yield engine, asker
    asker.close()
    engine.close()


def state(client) -> dict:
    address, args = client.ask(message("/vamen/state"))
    assert address == "/vamen/state"
    return dict(zip(args[::2], args[1::2]))


def first_reply(client):
    try:
        return client.reply()
    except socket.timeout:
        return None


def test_subscribers_that_quit_leave_room_after_the_expiry(server):
    engine, asker = server
    quitters = [Client(engine.osc) for _ in range(MAX_SUBSCRIBERS)]
    for quitter in quitters:
        quitter.send(message("/vamen/subscribe"))
    wait_for(lambda: state(asker)["subscribers"] == MAX_SUBSCRIBERS, 10, "every subscription to land")
    for quitter in quitters:
        quitter.close()  # gone without unsubscribing, like a script restarted
    live = Client(engine.osc)
    try:
        address, args = live.ask(message("/vamen/subscribe"))
        assert address == "/vamen/error" and "too many subscribers" in args[1]
        assert f"expire after {EXPIRY:g} s" in args[1]  # says when there will be room

        def accepted():
            live.send(message("/vamen/subscribe"))
            got = first_reply(live)
            return got is not None and got[0] in ("/vamen/beat", "/vamen/latent")

        wait_for(accepted, EXPIRY + 20, "room for a new subscriber once the quitters expired")
        assert state(asker)["subscribers"] == 1  # the 64 that quit are gone, the live one stays
    finally:
        live.close()


def test_renewing_keeps_a_subscription(server):
    engine, asker = server
    live = Client(engine.osc)
    try:
        live.send(message("/vamen/subscribe"))
        started = time.monotonic()
        while time.monotonic() - started < EXPIRY * 1.5:  # renewed every beat's worth of time
            live.send(message("/vamen/subscribe"))
            assert wait_for(lambda: first_reply(live), 10, "feedback")[0] in ("/vamen/beat", "/vamen/latent")
            time.sleep(0.5)
        assert state(asker)["subscribers"] == 1
    finally:
        live.close()


def test_a_host_that_does_not_resolve_is_refused_at_once(server):
    engine, asker = server
    address, args = asker.ask(message("/vamen/subscribe", 9999, "256.1.1.1"))
    assert address == "/vamen/error" and args[0] == "/vamen/subscribe"
    assert "cannot resolve host '256.1.1.1'" in args[1]
    s = state(asker)
    assert s["subscribers"] == 0 and "256.1.1.1" in s["last_error"]


def test_a_name_is_resolved_once_and_unsubscribes_by_either_name(server):
    engine, asker = server
    asker.send(message("/vamen/subscribe", 9999, "localhost"))
    wait_for(lambda: state(asker)["subscribers"] == 1, 10, "the subscription")
    asker.send(message("/vamen/unsubscribe", 9999, "127.0.0.1"))
    wait_for(lambda: state(asker)["subscribers"] == 0, 10, "the unsubscription")


def test_feedback_that_cannot_be_sent_drops_the_subscriber_after_a_few_tries():
    subs = Subscribers(limit=4, expiry=60, clock=lambda: 0.0)
    subs.add(("10.0.0.9", 9000))
    subs.add(("10.0.0.8", 9000))
    for _ in range(7):
        subs.sent(("10.0.0.9", 9000), False)
    subs.sent(("10.0.0.9", 9000), True)  # one that left: the count starts again
    for _ in range(7):
        subs.sent(("10.0.0.9", 9000), False)
    assert ("10.0.0.9", 9000) in subs
    subs.sent(("10.0.0.9", 9000), False)
    assert list(subs) == [("10.0.0.8", 9000)] and subs.dropped == 1


def test_a_destination_that_cannot_be_sent_to_is_logged_once_a_minute_not_every_beat(caplog):
    import queue

    from vamen.server.sources.oscserver import OscServer

    osc = OscServer(queue.Queue(), latent_dim=4, port=0).start()
    try:
        with caplog.at_level("WARNING"):
            sent = [osc.send("/vamen/beat", [1, 0.0], ("256.1.1.1", 9999)) for _ in range(100)]
    finally:
        osc.close()
    assert not any(sent)
    assert len([r for r in caplog.records if "cannot send" in r.getMessage()]) == 1
