"""``vamen bench soak --peer``: jack_metro beside vamen, and jackd's log saying who was late.

The soak runs for real on the JACK dummy server with its real jackd log;
while it runs the test stops the peer (SIGSTOP) for a tenth of a second, a
stall whose culprit is known, and the report must lay it at the peer's door.
"""
import json
import os
import select
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from vamen.server import peer as p

# as jackd2 1.9.21 writes them (a real-time dummy server beside jack_metro, 2 December)
LOG = """\
JACK server starting in realtime mode with priority 70
self-connect-mode is "Don't restrict self connect requests"
JackEngine::XRun: client = vamen was not finished, state = Running
JackAudioDriver::ProcessGraphAsyncMaster: Process error
JackEngine::XRun: client = metro was not finished, state = Triggered
JackAudioDriver::ProcessGraphAsyncMaster: Process error
JackTimedDriver::Process XRun = 50 usec
JackEngine::XRun: client = vamen was not finished, state = Running
JackEngine::XRun: client = metro was not finished, state = Triggered
JackAudioDriver::ProcessGraphAsyncMaster: Process error
JackTimedDriver::Process XRun = 19 usec
JackTimedDriver::Process XRun = 6476 usec
JackEngine::XRun: client vamen finished after current callback
JackAudioDriver::ProcessGraphAsyncMaster: Process error
JackEngine::XRun: client = someone else was not finished, state = Running
"""


def test_jackds_lines_are_sorted_by_whose_they_are_and_whether_the_cycle_began_late():
    events, timer_late = p.sort_lines(LOG.splitlines())
    assert events == [
        ("vamen", "Running", False), ("metro", "Triggered", False),
        ("", "driver", False), ("vamen", "Running", True), ("metro", "Triggered", True),
        ("", "driver", False), ("", "driver", False), ("vamen", "late", True),
        ("someone else", "Running", False)]
    assert timer_late is False
    counts = p.count_lines(events, vamen="vamen", peer="metro")
    assert counts == {"driver_late": 3, "others_late": 1,
                      "vamen_late": 3, "vamen_running": 2, "vamen_timer_late": 2, "vamen_own": 1,
                      "peer_late": 2, "peer_triggered": 2, "peer_timer_late": 1, "peer_unwoken": 1}
    # the causes add up to every line naming a client
    for who in ("vamen", "peer"):
        assert counts[f"{who}_late"] == sum(counts[f"{who}_{c}"] for c in ("timer_late", "unwoken", "own"))


def _totals(**given):
    return {**dict.fromkeys(p.ROW_KEYS, 0), **given}


def test_the_verdict_says_whether_any_underrun_was_vamens():
    clean = p.verdict(_totals(underruns=9, vamen_late=6, vamen_running=6, vamen_timer_late=5,
                              vamen_triggered=1, vamen_unwoken=1, peer_late=3, peer_triggered=3,
                              peer_unwoken=3, driver_late=7))
    assert clean.startswith("verdict: none of the 9 underruns vamen heard of was vamen's")
    assert "vamen late 6 times (5 in cycles the server began late, 1 not yet woken, 0 woken" in clean
    assert "the peer 3 times (0, 3, 0)" in clean
    assert clean.endswith("0 slow callbacks, 0 of them slow in CPU time")
    mine = p.verdict(_totals(underruns=6, vamen_late=2, vamen_running=2, vamen_own=2,
                             peer_late=3, peer_own=3))
    assert mine.startswith("verdict: 2 underruns were vamen's (0 slow callbacks, 0 of them slow in CPU time)")
    assert mine.endswith("no more often than the peer")
    worse = p.verdict(_totals(underruns=6, vamen_late=4, vamen_running=4, vamen_own=4, peer_late=1))
    assert worse.startswith("verdict: 4 underruns were vamen's") and worse.endswith("more often than the peer")
    # vamen's code slow (in its thread's CPU time) is vamen's, whatever jackd says ...
    assert p.verdict(_totals(slow_callbacks=1, slow_cpu_callbacks=1, underruns=1, driver_late=1)).startswith(
        "verdict: 0 underruns were vamen's (1 slow callbacks, 1 of them slow in CPU time)")
    # ... slow by the wall clock only, the thread was off the CPU
    assert p.verdict(_totals(slow_callbacks=2, underruns=1, driver_late=1)).startswith(
        "verdict: none of the 1 underruns")
    assert p.verdict(_totals()) == ("verdict: no underruns at all, and jackd blamed nobody; "
                                    "0 slow callbacks, 0 of them slow in CPU time")
    # scsynth playing vamen's loops: jackd's lines about its client are the player's
    sc = p.verdict(_totals(vamen_late=3, vamen_timer_late=3, peer_late=2, peer_unwoken=2), "scsynth")
    assert sc.startswith("verdict: none of the xruns was scsynth's own (it plays vamen's loops)")
    assert "jackd found scsynth late 3 times (3 in cycles the server began late" in sc
    sc = p.verdict(_totals(vamen_late=2, vamen_own=2, peer_late=1, peer_own=1), "scsynth")
    assert sc.startswith("verdict: 2 xruns were scsynth's own") and sc.endswith("more often than the peer")
    assert p.verdict(_totals(), "scsynth") == "verdict: no xruns at all, and jackd blamed nobody"


def test_the_log_is_followed_from_its_end_through_a_truncation(tmp_path):
    path = tmp_path / "jackd.log"
    path.write_text(LOG)
    log = p.JackLog(path)  # what was there before is not this run's
    assert log.read() == []
    with open(path, "a") as fh:
        fh.write("JackEngine::XRun: client = peer was not finished, state = Running\nJackEngine::XRun: cli")
    assert log.read() == [("peer", "Running", False)]  # the half-written line waits for its end
    with open(path, "a") as fh:
        fh.write("ent = vamen was not finished, state = Triggered\nJackTimedDriver::Process XRun = 9 usec\n")
    assert log.read() == [("vamen", "Triggered", False), ("", "driver", False)]
    with open(path, "a") as fh:  # the cycle after the late one, in the next read
        fh.write("JackEngine::XRun: client = vamen was not finished, state = Running\n")
    assert log.read() == [("vamen", "Running", True)]
    path.write_text("JackTimedDriver::Process XRun = 36 usec\n")  # rotated: shorter than before
    assert log.read() == [("", "driver", False)]
    with pytest.raises(p.PeerError):
        p.JackLog(tmp_path / "missing.log")


def test_the_server_name_is_read_from_jackds_command_line():
    assert p._jackd_name(["-R", "-n", "soak", "-d", "dummy"]) == "soak"
    assert p._jackd_name(["--name=x", "-d", "alsa"]) == "x"
    assert p._jackd_name(["-nfoo", "-d", "dummy"]) == "foo"
    assert p._jackd_name(["-d", "dummy", "-n", "2"]) == "default"  # the driver's -n (periods)


def test_the_running_jackds_log_is_found_where_it_writes(jack):
    assert p.find_jack_log(jack.name) == jack.log_path.resolve()
    assert p.find_jack_log("no-such-server") is None


def test_a_stalled_jackd_is_one_line_not_a_traceback(jack, tiny_model):
    """jackd stopped (SIGSTOP) while the bench asks it things: one line, exit 2, as for any error."""
    os.kill(jack._proc.pid, signal.SIGSTOP)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "vamen.server.cli", "bench", "soak", "--peer", "--minutes", "0.1",
             "--model", str(tiny_model)], capture_output=True, text=True, env=jack.env(), timeout=120)
    finally:
        os.kill(jack._proc.pid, signal.SIGCONT)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "got no answer from the JACK server" in lines[0], done.stderr
    assert jack.name in lines[0]


def test_soak_peer_lays_a_stall_of_the_peer_at_the_peers_door(jack, tiny_model):
    assert not jack.ports("peer:"), "a client named peer is already there"
    bench = subprocess.Popen(
        [sys.executable, "-m", "vamen.server.cli", "bench", "soak", "--peer", "--minutes", "0.2",
         "--rate", "200", "--model", str(tiny_model), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=jack.env())
    try:
        # vamen's ports appear once its audio process plays; the soak counts from ~2 s later
        assert jack.wait_for_ports("vamen:", timeout=120), "vamen never played"
        metro = [c for c in psutil.Process(bench.pid).children() if c.name() == "jack_metro"]
        assert len(metro) == 1 and jack.ports("peer:"), "the peer is not running"
        time.sleep(4.0)
        os.kill(metro[0].pid, signal.SIGSTOP)  # 20 cycles without the peer: jackd must say whose
        time.sleep(0.1)
        os.kill(metro[0].pid, signal.SIGCONT)
        out, err = bench.communicate(timeout=120)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.communicate()
    assert bench.returncode == 0, err
    assert "soak --peer" in err  # progress is shown
    figures = json.loads(out)
    peer = figures["peer"]
    assert peer["jack_log"] == str(jack.log_path.resolve())  # found without being told
    assert peer["peer_connected_to"] == "system:playback_1"
    rows, totals = peer["rows"], peer["totals"]
    assert len(rows) == 1 and 10 <= rows[0]["seconds"] <= 14  # 0.2 minutes: one short row
    for key in p.ROW_KEYS:
        assert sum(r[key] for r in rows) == totals[key], key
    assert totals["underruns"] == figures["underruns"]
    assert totals["peer_late"] >= 1  # the stall, by jackd's word
    assert totals["underruns"] >= 1  # and vamen heard of it, as every client does
    for who in ("vamen", "peer"):
        assert totals[f"{who}_late"] == sum(totals[f"{who}_{c}"] for c in ("timer_late", "unwoken", "own"))
    assert totals["slow_cpu_callbacks"] <= totals["slow_callbacks"]
    if totals["vamen_own"] == 0 and totals["slow_cpu_callbacks"] == 0:
        assert peer["verdict"].startswith(f"verdict: none of the {totals['underruns']} underruns")
    else:
        assert peer["verdict"].startswith(f"verdict: {totals['vamen_own']} underrun")
    assert f"vamen late {totals['vamen_late']} times" in peer["verdict"]
    assert f"the peer {totals['peer_late']} times" in peer["verdict"]
    # where the cycles went, from outside: both JACK threads found and measured
    assert peer["threads_found"] == {"vamen": True, "peer": True}
    row = rows[0]
    assert 0 < row["peer_cpu_us_per_cycle"] < row["vamen_cpu_us_per_cycle"] < 5333
    assert 0 < row["callback_us_mean"] < 5333 and 0 < row["portaudio_us_mean"] < 5333
    assert row["vamen_runqueue_ms_per_s"] >= 0 and row["peer_runqueue_ms_per_s"] >= 0
    assert peer["cycle"]["vamen_cpu_us_per_cycle"] > 0
    split = peer["by_second"]  # every second counted once per client: late in it or not
    assert split["peer_late"]["seconds"] >= 1
    assert 9 <= split["peer_late"]["seconds"] + split["peer_calm"]["seconds"] <= 14
    assert not jack.ports("peer:")  # the bench took its peer away with it
    assert peer["cpus"]["peer"] == peer["cpus"]["player"] != ""  # the yardstick runs where vamen's sound does


def test_soak_peer_with_audio_cpus_runs_the_peer_where_the_player_runs(jack, tiny_model):
    """``--audio-cpus``: the audio process on its CPU, vamen off it, and the peer beside the player
    (pinned apart from it, the yardstick would be spared what the player's CPU goes through)."""
    from vamen.server.audio.cpus import format_cpus

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip(f"--audio-cpus needs 2 CPUs to split; this process may use {cpus}")
    sound, rest = cpus[-1], format_cpus(cpus[:-1])
    bench = subprocess.Popen(
        [sys.executable, "-m", "vamen.server.cli", "bench", "soak", "--peer", "--minutes", "0.1",
         "--rate", "200", "--model", str(tiny_model), "--audio-cpus", str(sound), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=jack.env())
    try:
        started = _stderr_until(bench, "soak --peer", 120)
        assert "soak --peer" in started, started
        (metro,) = [c for c in psutil.Process(bench.pid).children() if c.name() == "jack_metro"]
        assert {frozenset(os.sched_getaffinity(t.id)) for t in metro.threads()} == {frozenset({sound})}
        out, err = bench.communicate(timeout=120)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.communicate()
    assert bench.returncode == 0, err
    placed = json.loads(out)["peer"]["cpus"]
    assert placed == {"player": str(sound), "peer": str(sound), "vamen": rest}


def _stderr_until(proc: subprocess.Popen, text: str, timeout: float) -> str:
    """What ``proc`` wrote to stderr up to ``text`` (or until it ended, or ``timeout``)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen and time.monotonic() < deadline:
        if select.select([proc.stderr], [], [], 0.5)[0]:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    return seen.decode(errors="replace")


@pytest.mark.slow
def test_soak_peer_with_scsynth_playing_lays_a_stall_of_scsynth_at_its_door(jack, tiny_model, tmp_path):
    """``--sink supercollider``: scsynth (C++) plays vamen's loops; jackd's lines about it are its."""
    from clients import free_port, need_programs
    from jackd import record
    from sclang import Sclang

    need_programs("supercollider-language", "sclang")
    need_programs("supercollider-server", "scsynth")
    lang = Sclang(jack, tmp_path, free_port())
    bench = None
    try:
        lang.wait_for("vamen: ready")
        assert jack.wait_for_ports("SuperCollider:", "output")
        scsynth = p.pid_of("scsynth")
        assert scsynth is not None
        bench = subprocess.Popen(
            [sys.executable, "-m", "vamen.server.cli", "bench", "soak", "--peer", "--minutes", "0.5",
             "--rate", "200", "--model", str(tiny_model), "--sink", "supercollider",
             "--scsynth", f"127.0.0.1:{lang.scsynth}", "--sclang", f"127.0.0.1:{lang.port}", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=jack.env())
        # the soak's progress shows once the peer plays and vamen renders: until then, no
        # client of the test's comes and goes (jackd on two busy cores once kept jack_lsp waiting)
        started = _stderr_until(bench, "soak --peer", 120)
        assert "soak --peer" in started, started
        assert jack.ports("peer:"), "the peer is not running"
        counting = time.monotonic() + 4.0  # the soak counts from 2 s after its progress shows
        deadline = time.monotonic() + 15.0  # the first loops rendered and sent: scsynth plays
        while np.sqrt(np.mean((played := record(jack, 1, "SuperCollider")[:, 0]) ** 2)) <= 1e-3:
            if time.monotonic() > deadline:
                break
        time.sleep(max(0.0, counting - time.monotonic()))
        os.kill(scsynth, signal.SIGSTOP)  # 20 cycles without scsynth: jackd must say whose
        time.sleep(0.1)
        os.kill(scsynth, signal.SIGCONT)
        out, err = bench.communicate(timeout=120)
        err = started + err
    finally:
        if bench is not None and bench.poll() is None:
            bench.kill()
            bench.communicate()
        lang.stop()
    assert bench.returncode == 0, err
    figures = json.loads(out)
    peer, totals = figures["peer"], figures["peer"]["totals"]
    assert peer["player"] == "SuperCollider"
    assert figures["supercollider_sent"] >= 2 and figures["supercollider_dropped"] == 0, figures
    assert np.sqrt(np.mean(played ** 2)) > 1e-3, f"scsynth played silence:\n{lang.output()[-2000:]}"
    assert totals["vamen_late"] >= 1, totals  # the stall, by jackd's word, is the player's
    assert peer["threads_found"] == {"vamen": True, "peer": True}  # scsynth's JACK thread, and the peer's
    assert peer["rows"][0]["vamen_cpu_us_per_cycle"] > 0
    assert peer["verdict"].startswith("verdict: ") and f"scsynth late {totals['vamen_late']} times" in peer["verdict"]
