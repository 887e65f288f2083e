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
    assert 0 < figures["rss_warm_mb"] <= figures["rss_peak_mb"]


def test_growth_after_the_warmup_tells_a_leak_from_a_working_set_filling_in():
    from vamen.server.bench import _after_warmup

    minutes = [(60.0 * t, 0.0) for t in range(1, 61)]
    filling = [(t, 500.0 + min(t, 300.0) / 10) for t, _ in minutes]  # +30 MB in 5 min, then flat
    leaking = [(t, 500.0 + t / 60) for t, _ in minutes]  # 1 MB a minute, all hour
    plateau = _after_warmup(filling, 3600.0, filling[-1][1])
    leak = _after_warmup(leaking, 3600.0, leaking[-1][1])
    assert plateau["rss_warm_mb"] == 530.0 and plateau["rss_growth_after_warmup_pct"] == 0.0
    assert leak["rss_growth_after_warmup_pct"] > 9  # 506 -> 560 MB
    assert _after_warmup([], 60.0, 500.0) == {}  # too short to say


def test_latency_is_measured_from_osc_to_the_first_sample(jack, tiny_model):
    figures, _ = bench(jack, tiny_model, "latency", "--count", 8)
    assert figures["missed"] == 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] < 1000  # heard, within a second


def test_soak_page_takes_turns_without_and_with_a_page_reading_the_socket(jack, tiny_model):
    figures, err = bench(jack, tiny_model, "soak", "--page", "--page-client", "socket",
                         "--minutes", 0.2, "--rate", 200)
    assert "soak --page" in err
    assert figures["page_client"] == "socket"
    # four turns of 3 s: without, with, without, with; a page was connected in exactly the second kind
    assert [(t["side"], t["pages"]) for t in figures["turns"]] == [
        ("without_page", 0), ("with_page", 1), ("without_page", 0), ("with_page", 1)]
    for side in ("without_page", "with_page"):
        assert figures[side]["messages"] >= 0.8 * 6 * 200  # the flood ran on both sides alike
    # what serving a page costs, by the serving thread's own CPU time: something with a
    # page (its state ten times a second), next to nothing without one
    without, with_page = figures["without_page"]["web_cpu_ms_per_s"], figures["with_page"]["web_cpu_ms_per_s"]
    assert 0 <= without < with_page < 1000, (without, with_page)
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "bench", "soak", "--page-client",
                          "socket"], capture_output=True, text=True, env=jack.env(), timeout=60)
    assert run.returncode == 2 and "--page-client is read for --page" in run.stderr
