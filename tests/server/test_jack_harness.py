"""The JACK dummy sound card the audio tests stand on: it plays, records, dies and returns."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from jackd import TEST_CLIENT, SinePlayer, dominant_frequency, jack_device, record

pytestmark = pytest.mark.jack


def test_server_answers_and_this_process_is_pointed_at_it(jack):
    import sounddevice as sd

    assert os.environ["JACK_DEFAULT_SERVER"] == jack.name
    assert jack.running
    assert {"system:playback_1", "system:playback_2"} <= set(jack.ports(direction="input"))
    assert (jack.sample_rate, jack.block) == (48000, 256)
    assert jack.device is not None
    info = sd.query_devices(jack.device)
    assert sd.query_hostapis(info["hostapi"])["name"] == "JACK Audio Connection Kit"
    assert info["max_output_channels"] >= 2 and info["default_samplerate"] == jack.sample_rate


def test_a_sine_played_through_portaudio_is_recorded_at_its_pitch(jack):
    import sounddevice as sd

    phase = [0]
    statuses = []

    def callback(out, frames, time_info, status):
        if status:
            statuses.append(status)
        n = np.arange(frames) + phase[0]
        phase[0] += frames
        out[:] = (0.3 * np.sin(2 * np.pi * 440.0 * n / jack.sample_rate))[:, None]

    with sd.OutputStream(device=jack.device, samplerate=jack.sample_rate, channels=2,
                         callback=callback):
        assert jack.wait_for_ports(f"{TEST_CLIENT}:") == [f"{TEST_CLIENT}:out_0",
                                                          f"{TEST_CLIENT}:out_1"]
        assert f"{TEST_CLIENT}:out_0" in jack.connections()["system:playback_1"]
        take = record(jack, 1.0, TEST_CLIENT)
    assert take.shape == (jack.sample_rate, 2)
    for channel in take.T:
        assert np.sqrt(np.mean(channel ** 2)) > 0.1, "the recording is silent"
    assert abs(dominant_frequency(take, jack.sample_rate) - 440.0) <= 5.0


def test_stop_and_start_bring_portaudio_along(jack):
    import sounddevice as sd

    jack.stop()
    assert not jack.running and jack.ports() == []
    assert jack_device() is None, "PortAudio still lists JACK after the server went"
    jack.start()
    assert jack.running and "system:playback_1" in jack.ports()
    assert jack.device is not None and jack_device() == jack.device
    with sd.OutputStream(device=jack.device, samplerate=jack.sample_rate, channels=2) as stream:
        assert stream.active


@pytest.mark.parametrize("kill", [True, False], ids=["SIGKILL", "SIGTERM"])
def test_a_client_sees_xruns_and_the_server_dying_and_a_new_one_plays_after_restart(jack, kill):
    player = SinePlayer(jack, 440.0, client_name="vamen-victim", xrun_at=0.2)
    try:
        late = player.wait_for(lambda r: r["xruns"] >= 1, timeout=5)
        assert late["active"] and any("output underflow" in f for f in late["flags"])
        take = record(jack, 0.5, "vamen-victim")
        assert abs(dominant_frequency(take, jack.sample_rate) - 440.0) <= 5.0

        killed_at = time.monotonic()
        jack.stop(kill=kill)
        dead = player.wait_for(lambda r: r["t"] > killed_at and not r["active"], timeout=3)
        assert not dead["stopped"], "PortAudio reported the stream stopped"
        time.sleep(0.3)
        later = player.latest
        assert later["calls"] == dead["calls"], "the callback ran on after JACK died"
        assert not later["active"] and not later["stopped"]
    finally:
        code = player.close(timeout=5)
    assert code == 0 and player.latest["event"] == "abandoned"

    jack.start()
    again = SinePlayer(jack, 440.0, client_name="vamen-victim")
    try:
        again.wait_for(lambda r: r["calls"] > 0, timeout=5)
        take = record(jack, 0.5, "vamen-victim")
    finally:
        assert again.close(timeout=5) == 0
    assert again.latest["event"] == "closed"
    assert np.sqrt(np.mean(take ** 2)) > 0.1
    assert abs(dominant_frequency(take, jack.sample_rate) - 440.0) <= 5.0
