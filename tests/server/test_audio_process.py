"""The sound card's own process (vamen.server.audio.audioproc) on a real JACK dummy server.

What an installation needs from it: the audio comes back by itself when the
JACK server dies and returns, a crashed or hung audio process is replaced,
each of them is told to the installation's own alert command (``--on-alert``),
and a server that is killed takes its audio process with it (no orphan
playing on).
"""
import os
import signal
import time

import numpy as np
import pytest

from clients import alert_command, children
from jackd import record
from test_serve_jack import assert_continuous, served_on_jack
from waiting import wait_for

RATE = 48000


def audio_children(pid: int) -> list[int]:
    """PIDs of ``pid``'s audio processes."""
    return children(pid, "vamen.server.audio.audiochild")


def alerting(tmp_path) -> tuple[list, "os.PathLike"]:
    """``--on-alert`` arguments whose command writes each alert to a file, and that file."""
    out = tmp_path / "alerts.txt"
    return ["--on-alert", alert_command(out)], out


def alerts(out) -> list[str]:
    return out.read_text().splitlines() if out.exists() else []


def playing(jack, seconds=1.0) -> np.ndarray:
    audio = record(jack, seconds, "vamen")[int(0.05 * RATE):, 0]
    assert np.sqrt(np.mean(audio ** 2)) > 1e-3, "vamen is silent"
    return audio


def test_audio_comes_back_by_itself_after_the_jack_server_dies_and_returns(jack, tiny_model, tmp_path):
    flags, told = alerting(tmp_path)
    s = served_on_jack(jack, tiny_model, tmp_path, *flags)
    try:
        playing(jack)
        bar_before = s.state()["bar"]
        jack.stop(kill=True)  # like a crash: no goodbye to the clients
        time.sleep(1.5)
        state = s.state()  # the server itself carries on, and says what is wrong
        assert "audio output lost" in state["last_error"], state["last_error"]
        jack.start()
        returned = time.monotonic()  # the server is up: from here vamen must find it by itself
        wait_for(lambda: any(p.startswith("vamen:") for p in jack.ports()), 15.0,
                 "vamen's ports reappearing")
        back = time.monotonic()
        assert back - returned < 5.0, f"vamen's ports came back {back - returned:.1f} s after jackd"
        audio = playing(jack, 2.0)
        assert_continuous(audio)
        state = s.state()
        assert state["audio_restarts"] >= 1 and state["last_error"] == ""
        assert state["bar"] > bar_before  # musical time went on while the device was away
        wait_for(lambda: len(alerts(told)) >= 2, 10, "the alert command's two runs")
        said = alerts(told)
        assert said[0].startswith("device-lost: audio output lost: the device went away"), said
        assert said[1].startswith("device-back: audio output back after"), said
    finally:
        s.stop()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "hung"])
def test_a_crashed_or_hung_audio_process_is_replaced_and_alerted(jack, tiny_model, tmp_path, how):
    flags, told = alerting(tmp_path)
    s = served_on_jack(jack, tiny_model, tmp_path, *flags)
    try:
        playing(jack)
        (child,) = audio_children(s.proc.pid)
        lost = time.monotonic()
        os.kill(child, how)  # SIGSTOP: alive, but stuck, as in a driver
        wait_for(lambda: [c for c in audio_children(s.proc.pid) if c != child], 5.0,
                 "a new audio process")
        wait_for(lambda: any(p.startswith("vamen:") for p in jack.ports()), 5.0,
                 "vamen's ports reappearing")
        assert_continuous(playing(jack, 1.5))
        healed = time.monotonic() - lost
        assert healed < 10.0, f"sound came back {healed:.1f} s after"
        assert s.state()["audio_restarts"] == 1
        wait_for(lambda: len(alerts(told)) >= 2, 10, "the alert command's runs")
        said = alerts(told)
        why = "stopped advancing (hung)" if how == signal.SIGSTOP else "the audio process ended (-9)"
        assert said[0].startswith("audio-replaced: ") and why in said[0], said
        assert said[1].startswith("device-back: audio output back after"), said
    finally:
        if how == signal.SIGSTOP:
            try:
                os.kill(child, signal.SIGCONT)
            except ProcessLookupError:
                pass
        s.stop()


def test_a_killed_server_takes_its_audio_process_with_it(jack, tiny_model, tmp_path):
    s = served_on_jack(jack, tiny_model, tmp_path)
    try:
        (child,) = audio_children(s.proc.pid)
        s.proc.kill()
        s.proc.wait(5)
        wait_for(lambda: not os.path.exists(f"/proc/{child}") or _zombie(child), 3.0,
                 "the audio process ending")
        wait_for(lambda: not any(p.startswith("vamen:") for p in jack.ports()), 3.0,
                 "vamen's ports going")
    finally:
        s.stop()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _threads_cpus(pid: int) -> set[frozenset]:
    """The CPU sets of every thread of ``pid``."""
    found = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            found.add(frozenset(os.sched_getaffinity(int(tid))))
        except OSError:
            pass  # a thread that ended meanwhile
    return found


def test_audio_cpus_keeps_the_sound_on_its_cpu_and_vamen_off_it_also_after_a_replacement(
        jack, tiny_model, tmp_path):
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip(f"--audio-cpus needs 2 CPUs to split; this process may use {cpus}")
    sound, rest = cpus[-1], frozenset(cpus[:-1])
    s = served_on_jack(jack, tiny_model, tmp_path, "--audio-cpus", str(sound))
    try:
        playing(jack)
        (child,) = audio_children(s.proc.pid)
        # every thread of the audio process, PortAudio's and libjack's real-time one included
        assert _threads_cpus(child) == {frozenset({sound})}
        assert _threads_cpus(s.proc.pid) == {rest}  # the renderer, OSC, control: all off it
        assert s.state()["audio_cpus"] == str(sound)  # where it really runs, said to the user
        os.kill(child, signal.SIGKILL)  # the replacement keeps the place
        wait_for(lambda: [c for c in audio_children(s.proc.pid) if c != child], 5.0,
                 "a new audio process")
        assert_continuous(playing(jack, 1.5))
        (again,) = audio_children(s.proc.pid)
        assert _threads_cpus(again) == {frozenset({sound})}
    finally:
        s.stop()
