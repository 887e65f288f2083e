"""A replaced audio process keeps the JACK connections the performer patched by hand.

vamen replaces its input and output processes when they hang or die. Each new
one is a new JACK client, which PortAudio connects to ``system:capture_*`` and
``system:playback_*`` as it connects any. Without care the drum machine that
was patched into ``vamen-in`` would go unheard, and vamen's outputs would be
back in the speakers a mixer had taken them from.
"""
import os
import signal
import subprocess
import time

from clients import children
from test_serve_input import input_children
from test_serve_jack import served_on_jack
from waiting import wait_for
from vamen.server.audio.jackports import parse_lsp


def disconnect(jack, a, b):
    subprocess.run(["jack_disconnect", "-s", jack.name, a, b], check=True, env=jack.env(), timeout=10,
                   capture_output=True)


def test_the_performers_patch_survives_a_replaced_input_and_output(jack, tiny_model, tmp_path):
    served = served_on_jack(jack, tiny_model, tmp_path, "--input", "JACK")
    # the drum machine comes after vamen (before, "JACK" would name two inputs)
    machine = subprocess.Popen(["jack_metro", "-b", "120", "-n", "machine"], env=jack.env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        (click,) = jack.wait_for_ports("machine:", direction="output", timeout=10.0)
        jack.wait_for_ports("vamen-in:", direction="input", timeout=15.0)
        # the patch: the drum machine into in_0 instead of the first capture port, and both
        # of vamen's outputs into the first playback port (the second one taken by something else)
        jack.connect(click, "vamen-in:in_0")
        disconnect(jack, "system:capture_1", "vamen-in:in_0")
        jack.connect("vamen:out_1", "system:playback_1")
        disconnect(jack, "vamen:out_1", "system:playback_2")
        patch = {port: sorted(jack.connections()[port]) for port in
                 ("vamen-in:in_0", "vamen-in:in_1", "vamen:out_0", "vamen:out_1")}
        assert patch == {"vamen-in:in_0": [click], "vamen-in:in_1": ["system:capture_2"],
                         "vamen:out_0": ["system:playback_1"], "vamen:out_1": ["system:playback_1"]}

        # the state shows what vamen keeps, once it has read it
        wanted_in = f"in_0={click} in_1=system:capture_2"
        wanted_out = "out_0=system:playback_1 out_1=system:playback_1"
        wait_for(lambda: served.state()["input_connections"] == wanted_in
                 and served.state()["output_connections"] == wanted_out, 15.0,
                 f"the state to show the patch ({wanted_in}; {wanted_out})", poll=0.3)

        # both processes die (as when killed, or replaced after a hang)
        (inp,) = input_children(served.proc.pid)
        (out,) = children(served.proc.pid, "vamen.server.audio.audiochild")
        os.kill(inp, signal.SIGKILL)
        os.kill(out, signal.SIGKILL)
        wait_for(lambda: served.state()["input_restarts"] == 1 and served.state()["audio_restarts"] == 1,
                 20.0, "both processes back", poll=0.3)
        now = {port: sorted(jack.connections().get(port, [])) for port in patch}
        assert now == patch, served.output()[-2000:]
        log = served.output()
        assert f"reconnected vamen-in:in_0 with {click}" in log, log[-2000:]
        assert "left unconnected system:capture_1" in log and "left unconnected system:playback_2" in log, log[-2000:]

        # and what the performer patches next is what the next replacement keeps
        disconnect(jack, click, "vamen-in:in_0")
        wait_for(lambda: served.state()["input_connections"] == "in_1=system:capture_2", 15.0,
                 "the state to show in_0 unpatched", poll=0.3)
        time.sleep(0.5)
        (inp,) = input_children(served.proc.pid)
        os.kill(inp, signal.SIGKILL)
        wait_for(lambda: served.state()["input_restarts"] == 2, 20.0, "the input back again", poll=0.3)
        assert jack.connections()["vamen-in:in_0"] == []
    finally:
        served.stop()
        machine.kill()
        machine.wait(5)


def test_jack_lsp_is_read_as_ports_and_connections_and_a_second_vamen_is_seen():
    text = ("system:capture_1\n   vamen-in:in_1\nvamen-in:in_0\n   drums:out_1\n   drums:out_2\n"
            "vamen-in:in_1\n   system:capture_1\nvamen-in-extra:in_0\n")
    ports, pairs, twin = parse_lsp(text, "vamen-in")
    assert ports == {"vamen-in:in_0", "vamen-in:in_1"}
    assert pairs == {("vamen-in:in_0", "drums:out_1"), ("vamen-in:in_0", "drums:out_2"),
                     ("vamen-in:in_1", "system:capture_1")}
    assert not twin
    assert parse_lsp(text + "vamen-in-01:in_0\n", "vamen-in")[2]
