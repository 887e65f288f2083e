"""``vamen bench soak`` and ``vamen bench latency`` on a real JACK dummy server.

The figures are the README's; these runs are short and check that the
commands measure what they say, not how fast this machine is.
"""
import json
import subprocess
import sys


def bench(jack, tiny_model, *args, timeout=180):
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "bench", *map(str, args),
                          "--model", tiny_model, "--device", "JACK", "--json"],
                         capture_output=True, text=True, env=jack.env(), timeout=timeout)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout), run.stderr


def test_soak_reports_both_processes_and_whose_underruns_they_are(jack, tiny_model):
    figures, err = bench(jack, tiny_model, "soak", "--minutes", 0.25, "--rate", 500)
    assert "soak" in err  # progress is shown
    assert figures["messages"] >= 0.9 * 15 * 500
    assert figures["bars"] >= 4  # it played: 15 s at 120 BPM is 7 bars
    assert figures["renders"] > 0 and figures["audio_restarts"] == 0
    assert figures["rss_end_mb"] > 0 and figures["audio_rss_end_mb"] > 0
    # every second with an underrun had at least one, and the steal windows are a
    # subset of the run's seconds
    assert figures["seconds_with_underruns"] <= figures["underruns"]
    assert figures["seconds_with_underruns_and_steal"] <= min(
        figures["seconds_with_underruns"], figures["seconds_with_steal"])
    assert figures["seconds_with_steal"] <= 16
    assert figures["seconds_with_underruns_and_slow_callbacks"] <= figures["seconds_with_underruns"]
    assert 0 < figures["callback_max_ms"] < 1000 and figures["slow_callbacks"] >= 0


def test_latency_is_measured_from_osc_to_the_first_sample(jack, tiny_model):
    figures, _ = bench(jack, tiny_model, "latency", "--count", 8)
    assert figures["missed"] == 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] < 1000  # heard, within a second
