"""What ``vamen serve`` writes to stderr: few lines, each one saying it is vamen's."""
import json
import os
import signal
import subprocess
import sys
import time

from vamen.server.ops.trouble import REPORT_SECONDS, TroubleReport


def serve(*args, env=None, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "vamen.server.cli", "serve", "--osc-port", "0",
                             *map(str, args)], stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)


def test_a_log_file_that_cannot_be_written_is_one_line_and_exit_2(tmp_path):
    proc = serve("--log", "/proc/nope/x.log", cwd=tmp_path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        "vamen: cannot write the log file /proc/nope/x.log: No such file or directory"]


def test_an_osc_port_that_is_taken_is_one_line_and_exit_2(tmp_path, tiny_model):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "vamen.server.cli", "serve", "--osc-port", str(port),
                                 "--model", str(tiny_model), "--sink", "file", "--record", str(tmp_path / "r.wav"),
                                 "--fresh", "--quiet"], stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        f"vamen: cannot listen for OSC on 127.0.0.1:{port}: Address already in use"]


def test_every_line_says_vamen_without_log(tmp_path, tiny_model):
    """A warning from deep inside (a bad saved value) and the notes alike carry the prefix."""
    data = tmp_path / "data" / "vamen"
    data.mkdir(parents=True)
    (data / "session.json").write_text(json.dumps({
        "format": "vamen-session", "version": 2, "point": [0.0] * 8, "centre": [0.0] * 8, "move": None,
        "tempo": 120.0, "quantize": 1.0, "gain": 3.0, "quality": 32, "glide": 0.0,
        "walk": {"depth": 0.0, "rate": 1.0, "seed": 0, "phase": 0.0, "depth_now": 0.0}}))
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    proc = serve("--model", tiny_model, "--sink", "file", "--record", tmp_path / "r.wav", "--quiet",
                 env=env, cwd=tmp_path)
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any("Ctrl-C stops" in line for line in lines):
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    lines += rest.splitlines()
    assert proc.returncode == 0, lines
    assert all(line.startswith("vamen: ") for line in lines), lines
    dropped = [line for line in lines if "dropping gain = 3.0" in line]
    assert len(dropped) == 1, lines


def test_underruns_every_two_seconds_for_ten_minutes_are_a_few_lines(caplog):
    """A non-real-time JACK: an underrun every 2 s. Reported once a minute, not 300 times."""
    report = TroubleReport(card=True)
    lines = []
    underruns = 0
    with caplog.at_level("WARNING"):
        for beat in range(1200):  # ten minutes of beats at 120 BPM, checked once a beat
            now = beat * 0.5
            if beat % 4 == 0:
                underruns += 1
            lines.append(report.check(underruns, 0, now))
    said = [line for line in lines if line]
    assert 0 < len(said) <= 10 + 1
    assert said[0].startswith("1 underrun (") and "since the start" in said[0]
    assert "30 underruns (" in said[1] and "in the last 60 s" in said[1]
    told = sum(int(line.split()[0]) for line in said)
    assert underruns - 30 < told <= underruns  # the last minute's come next
    assert len(caplog.records) == len(said)


def test_no_sound_card_no_underrun_reports_but_late_loops_still_count():
    report = TroubleReport(card=False)  # the timer that feeds a recording
    assert report.check(50, 0, 0.0) is None
    line = report.check(50, 1, 1.0)
    assert line.startswith("1 late loop (") and "underrun" not in line
    assert report.check(50, 2, 1.0 + REPORT_SECONDS / 2) is None  # not yet: once a minute


def test_sigusr1_prints_every_thread_and_vamen_plays_on(tmp_path, tiny_model):
    """``kill -USR1`` on a server that seems stuck: where each thread is, and nothing stops."""
    proc = serve("--model", tiny_model, "--sink", "file", "--record", tmp_path / "r.wav", "--quiet",
                 "--fresh", cwd=tmp_path)
    lines = []
    while not any("Ctrl-C stops" in line for line in lines):
        line = proc.stderr.readline()
        assert line, lines
        lines.append(line)
    proc.send_signal(signal.SIGUSR1)
    time.sleep(1.0)
    assert proc.poll() is None, "SIGUSR1 stopped the server"
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "Current thread" in rest or "Thread 0x" in rest, rest
    assert 'in _run' in rest, rest  # the main thread, waiting in serve's loop
    assert rest.count("Thread 0x") + rest.count("Current thread") >= 3, rest  # not only the main one
    assert "vamen: recorded" in rest  # and the stop after it was the normal one


def _stop(body: str, seconds: float) -> subprocess.CompletedProcess:
    code = ("import time\nfrom vamen.server.ops.stacks import stop_deadline\n"
            f"def held_here():\n    {body}\n"
            f"with stop_deadline({seconds}):\n    held_here()\n"
            "time.sleep(2 * %r)\nprint('went on')\n" % seconds)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_a_stop_that_hangs_says_so_shows_where_and_exits_70():
    from vamen.server.ops.stacks import EXIT_STUCK

    done = _stop("time.sleep(30)", 1.0)
    assert done.returncode == EXIT_STUCK
    first, *stack = done.stderr.splitlines()
    assert first == f"vamen: stopping has taken over 1 s; where each thread is follows, and vamen exits with status {EXIT_STUCK}"
    assert any("held_here" in line for line in stack), done.stderr
    assert "went on" not in done.stdout


def test_a_stop_in_time_leaves_no_trace():
    done = _stop("time.sleep(0.1)", 0.5)
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "went on\n")
