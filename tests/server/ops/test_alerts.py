"""Alerts: logged, told to subscribers, and a real command run, rate-limited, time-limited, survived."""
import logging
import sys

from vamen.server.ops.alerts import Alerter
from waiting import wait_for

# A stand-in for an installation's own notifier: appends what it was told to a file.
NOTE = [sys.executable, "-c", "import os, sys; open(sys.argv[1], 'a').write("
        "os.environ['VAMEN_ALERT_KIND'] + '|' + sys.argv[2] + '|' + sys.argv[3] + '\\n')"]


def command(*argv) -> str:
    import shlex

    return " ".join(shlex.quote(str(a)) for a in argv)


def test_an_alert_runs_the_command_with_kind_and_message_and_tells_subscribers(tmp_path, caplog):
    out = tmp_path / "alerts.txt"
    alerter = Alerter(command(*NOTE, out))
    told = []
    alerter.raise_("dead-air", "4.0 s of silence while the music plays")
    with caplog.at_level(logging.WARNING, logger="vamen"):
        alerter.flush(lambda address, args: told.append((address, args)))
    assert told == [("/vamen/alert", ["dead-air", "4.0 s of silence while the music plays"])]
    wait_for(lambda: out.exists(), 10, "the alert command")
    assert out.read_text() == "dead-air|dead-air|4.0 s of silence while the music plays\n"
    assert "alert dead-air: 4.0 s of silence" in caplog.text
    assert alerter.health()["alerts"] == 1


def test_the_command_is_rate_limited_per_kind(tmp_path):
    out = tmp_path / "alerts.txt"
    alerter = Alerter(command(*NOTE, out), every=60.0)
    for k in range(5):
        alerter.raise_("device-lost", f"lost {k}")
        alerter.flush()
        if k == 0:
            wait_for(lambda: out.exists(), 10, "the first run")
    alerter.raise_("device-back", "back")
    alerter.flush()
    wait_for(lambda: len(out.read_text().splitlines()) == 2, 10, "the other kind's run")
    lines = out.read_text().splitlines()
    assert lines == ["device-lost|device-lost|lost 0", "device-back|device-back|back"]
    alerter._ran.clear()  # a minute later: the next device-lost tells how many were held back
    alerter.raise_("device-lost", "lost again")
    alerter.flush()
    wait_for(lambda: len(out.read_text().splitlines()) == 3, 10, "the next run")
    assert out.read_text().splitlines()[2] == "device-lost|device-lost|lost again (4 more alerts held back by the rate limit)"
    assert alerter.count == 7  # every alert is still logged and counted


def test_a_failing_or_hanging_command_is_logged_and_survived(tmp_path, caplog):
    failing = Alerter(command(sys.executable, "-c", "import sys; sys.exit('no mail server')"))
    hanging = Alerter(command(sys.executable, "-c", "import time; time.sleep(60)"), timeout=0.5)
    missing = Alerter(command(tmp_path / "no-such-notifier"))
    with caplog.at_level(logging.WARNING, logger="vamen"):
        for alerter in (failing, hanging, missing):
            alerter.raise_("memory", "too much")
            alerter.flush()
        wait_for(lambda: all(a.failed == 1 for a in (failing, hanging, missing)), 15, "three failures")
    assert "failed (exit 1): no mail server" in caplog.text
    assert "took over 0 s: stopped" in caplog.text or "took over 1 s: stopped" in caplog.text
    assert "could not run" in caplog.text
    assert all(len(r.getMessage().splitlines()) == 1 for r in caplog.records)
