"""A memory ceiling (``--max-rss-mb``) set below what vamen uses: it alerts, saves the session,
exits with status 75, and a restart (what systemd's Restart=on-failure does) carries on."""
import os
import subprocess
import sys
import time

from clients import Vamen, alert_command, free_port
from oscclient import Client, message

EXIT_MEMORY = 75


def test_above_the_ceiling_vamen_alerts_saves_and_exits_75_and_a_restart_carries_on(tiny_model, tmp_path):
    out = tmp_path / "alerts.txt"
    port = free_port()
    first = Vamen(tiny_model, tmp_path, "--sink", "file", "--record", tmp_path / "a.wav", port=port)
    # moved somewhere, so the restart has something to carry on from
    first.send("/vamen/latent", *([1.25] * 8))
    time.sleep(1.0)
    first.stop()
    args = [sys.executable, "-m", "vamen.server.cli", "serve", "--model", str(tiny_model), "--osc-port", str(port),
            "--quiet", "--sink", "file", "--record", str(tmp_path / "b.wav"),
            "--on-alert", alert_command(out)]
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    started = time.monotonic()
    done = subprocess.run([*args, "--max-rss-mb", "64"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_MEMORY, done.stderr[-2000:]
    assert time.monotonic() - started < 60
    assert "alert memory:" in done.stderr and "above the ceiling of 64 MB" in done.stderr, done.stderr[-2000:]
    for _ in range(50):  # the command runs on its own thread; it may finish just after
        if out.exists():
            break
        time.sleep(0.1)
    assert out.read_text().startswith("memory: "), out.read_text() if out.exists() else "no alert ran"
    # restarted (as systemd would), with no ceiling: it carries on from the saved session
    again = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = Client(type("Target", (), {"port": port}))
        for _ in range(600):
            try:
                if client.ask(message("/vamen/ping"))[0] == "/vamen/pong":
                    break
            except OSError:
                time.sleep(0.1)
        address, state = client.ask(message("/vamen/state"))
        latent = dict(zip(state[::2], state[1::2]))["latent"]
        assert all(abs(float(v) - 1.25) < 1e-3 for v in latent.split(",")), latent
        client.close()
    finally:
        again.terminate()
        output = again.communicate(timeout=30)[0]
    assert "carrying on from the last session" in output, output[-2000:]
