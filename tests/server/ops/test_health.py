"""Health, as an installation's keeper meets it: ``vamen status``, ``/metrics``, a rotating log.

One ``vamen serve`` process (no sound card needed: the file sink) with a
tight OSC rate limit, a Prometheus port and a small rotating log; the tests
talk to it the way a cron job, Prometheus and ``tail`` would.
"""
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from clients import Vamen, free_port
from oscclient import Client, message
from vamen.server.ops.metrics import exposition

LOG_SIZE = 2048


def vamen_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "vamen.server.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tiny_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("health")
    metrics = free_tcp_port()
    server = Vamen(tiny_model, tmp, "--sink", "file", "--record", tmp / "rec.wav",
                   "--osc-rate", 50, "--osc-burst", 10, "--metrics-port", metrics,
                   "--log", tmp / "vamen.log", "--log-size", "2K", "--log-count", 2)
    # something to report: a refused command, and a sender held back by the rate limit
    server.send("/vamen/preset/load", "nope")
    server.client.reply()
    flood = Client(type("Target", (), {"port": server.port}))
    for _ in range(200):
        flood.send(message("/vamen/gain", 0.5))
    time.sleep(0.3)
    server.flooder = f"127.0.0.1:{flood.address[1]}"
    flood.close()
    server.metrics = metrics
    server.tmp = tmp
    yield server
    server.stop()


def test_status_prints_the_figures(served):
    run = vamen_cli("status", "--osc-port", served.port)
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert re.search(r"vamen on 127\.0\.0\.1:\d+: up \d+m \d\ds, playing at 120\.0 BPM", text), text
    assert re.search(r"underruns \d+, starved blocks \d+, late loops \d+", text), text
    assert re.search(r"render p50 [\d.]+ ms, p99 [\d.]+ ms; loops queued \d+; commands waiting \d+",
                     text), text
    dropped = int(re.search(r"OSC dropped (\d+)", text).group(1))
    assert dropped >= 150 and served.flooder in text  # 200 sent, at most 10 + 50/s let through
    assert re.search(r"dead air 0 \(0\.0 s in all\), alerts 0, memory \d+ MiB", text), text
    assert "last error: /vamen/preset/load: unknown preset 'nope'" in text


def test_status_json_has_every_figure(served):
    run = vamen_cli("status", "--osc-port", served.port, "--json")
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    for key in ("uptime", "underruns", "starved", "late_loops", "render_ms_p50", "render_ms_p99",
                "queue_depth", "last_error", "osc_dropped", "osc_denied", "osc_dropped_by"):
        assert key in figures, key
    assert figures["uptime"] > 0 and figures["render_ms_p50"] > 0
    assert figures["osc_dropped"] >= 150 and figures["osc_denied"] == 0


def test_status_with_nobody_there_is_one_line_and_fails():
    port = free_port()
    started = time.monotonic()
    run = vamen_cli("status", "--osc-port", port, "--timeout", 1)
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.strip().splitlines() == [f"vamen: no vamen server answers on 127.0.0.1:{port}"]
    assert time.monotonic() - started < 60


# -- Prometheus ---------------------------------------------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf'({_NAME})(?:\{{((?:{_NAME}="(?:[^"\\\n]|\\[\\"n])*",?)*)\}})? (\S+)')
_LABEL = re.compile(rf'({_NAME})="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_prometheus(text: str) -> dict:
    """Text exposition format -> {(name, ((label, value), ...)): float}; asserts on any bad line."""
    assert text.endswith("\n")
    typed, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "summary", "histogram", "untyped"), line
            assert name not in typed, f"{name} typed twice"
            typed[name] = kind
            continue
        match = _SAMPLE.fullmatch(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        assert name in typed, f"{name} has no TYPE line before it"
        key = (name, tuple(_LABEL.findall(labels or "")))
        assert key not in samples, f"{key} twice"
        samples[key] = float(value)  # raises on anything that is not a number
    return samples


def fetch(port, path="/metrics"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode("utf-8")


def test_metrics_serves_prometheus_text_with_the_figures(served):
    kind, text = fetch(served.metrics)
    assert kind.startswith("text/plain; version=0.0.4")
    samples = parse_prometheus(text)
    one = {name: value for (name, labels), value in samples.items() if not labels}
    assert one["vamen_uptime_seconds"] > 0
    assert one["vamen_underruns_total"] >= 0 and one["vamen_late_loops_total"] >= 0
    assert one["vamen_dead_air_total"] == 0 and one["vamen_alerts_total"] == 0 and one["vamen_resident_memory_mib"] > 50
    assert one["vamen_tempo_bpm"] == 120.0 and one["vamen_playing"] == 1
    assert one["vamen_osc_kernel_dropped_total"] >= 0  # Linux says it; these tests run on Linux
    p50 = samples[("vamen_render_seconds", (("quantile", "0.5"),))]
    p99 = samples[("vamen_render_seconds", (("quantile", "0.99"),))]
    assert 0 < p50 <= p99 < 60
    dropped = {dict(labels)["source"]: value for (name, labels), value in samples.items()
               if name == "vamen_osc_dropped_total" and dict(labels)["reason"] == "rate"}
    assert dropped[served.flooder] >= 150
    status = json.loads(vamen_cli("status", "--osc-port", served.port, "--json").stdout)
    assert status["osc_dropped"] >= sum(dropped.values())  # the same figures, either way
    assert one["vamen_uptime_seconds"] <= status["uptime"] + 1


def test_metrics_answers_only_metrics(served):
    with pytest.raises(urllib.error.HTTPError) as err:
        fetch(served.metrics, "/")
    assert err.value.code == 404
    assert fetch(served.metrics)[1]  # and it still serves


def test_exposition_escapes_labels_and_bounds_them():
    drops = [(f"10.0.0.{i}:9000", "rate", i) for i in range(16)] + [("other", "rate", 99)]
    text = exposition({"uptime": 1.5, "output": 'Card "A"\\B\n'}, drops, 120.0, True, "0.1")
    samples = parse_prometheus(text)
    info = [labels for (name, labels), _ in samples.items() if name == "vamen_info"]
    assert info == [(("output", 'Card \\"A\\"\\\\B\\n'), ("version", "0.1"))]
    assert sum(1 for name, _ in samples if name == "vamen_osc_dropped_total") == 17


# -- the log --------------------------------------------------------------------------------------


def test_refusals_reach_the_log_once_not_once_each(served):
    for n in range(120):
        served.send("/vamen/nowhere", n)
        if n % 8 == 7:
            time.sleep(0.2)  # within the rate limit of 50 a second
    served.send("/vamen/ping")
    while served.client.reply()[0] != "/vamen/pong":  # past the 120 error replies: all were read
        pass
    text = "".join(path.read_text() for path in sorted(served.tmp.glob("vamen.log*")))
    assert "INFO" in text and "refused /vamen/nowhere" in text
    assert text.count("refused /vamen/nowhere") < 5  # the rest are counted, and said in one line later


def test_the_log_rotates_and_keeps_a_bounded_number_of_files(tmp_path):
    import logging

    from vamen.server.ops.logfile import _ToVamen, log_to_file

    log = tmp_path / "vamen.log"
    name = "vamen.test.rotation"
    handler = log_to_file(log, LOG_SIZE, 2, logger=name)
    try:
        for n in range(120):  # 120 different lines, each about 100 bytes
            logging.getLogger(name).info(f"line {n}: " + "x" * 60)
    finally:
        for h in list(logging.getLogger(name).handlers):
            logging.getLogger(name).removeHandler(h)
            h.close()
        for h in [h for h in logging.getLogger().handlers if isinstance(h, _ToVamen)]:
            logging.getLogger().removeHandler(h)
        logging.captureWarnings(False)
    files = sorted(tmp_path.glob("vamen.log*"))
    assert files == [log, log.with_name("vamen.log.1"), log.with_name("vamen.log.2")], files
    for path in files:
        assert path.stat().st_size <= LOG_SIZE + 512, (path, path.stat().st_size)
    assert "line 119: " in log.read_text() and handler is not None


@pytest.mark.parametrize("args, needle", [
    (("--allow", "10.0.0.0/33"), "allow: '10.0.0.0/33' is not an IP address or network"),
    (("--allow", "192.168.1.0/24", "--allow", "friends"), "allow: 'friends' is not an IP address"),
    (("--log-size", "lots"), "log size 'lots' is not a size such as 10M"),
])
def test_serve_refuses_bad_safety_options_in_one_line(tmp_path, args, needle):
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "serve", "--osc-port", "0", *args],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("vamen: ") and needle in line
