"""The Pure Data client for real: Debian's pd runs patches/pd/vamen.pd headless
against ``vamen serve --sink notify``.

Pd starts first (``pd -nogui -nosound -stderr``; ``-send`` points the
patch's ``netreceive`` and ``netsend`` at this test's ports), then vamen.
The patch prints ``vamen-loaded: <samples>`` for each loop file
``soundfiler`` reads and ``vamen-playing: symbol <table>`` when a loop takes
over at its bar line; the test reads both from Pd's stderr. A second small
patch, as a user's own patch would, sends ``[s vamen-z0]`` once a loop has
loaded; the test checks that it reached vamen as ``/vamen/latent/0``.
"""
import subprocess
import time
from pathlib import Path

import pytest

from clients import Vamen, free_port, need_programs

ROOT = Path(__file__).resolve().parents[3]
PATCH = ROOT / "patches" / "pd" / "vamen.pd"
RATE = 48000

DRIVER = """#N canvas 0 0 300 200 12;
#X obj 10 10 r vamen-loaded;
#X msg 10 40 1.5;
#X obj 10 70 s vamen-z0;
#X connect 0 0 1 0;
#X connect 1 0 2 0;
"""


@pytest.mark.slow
def test_pd_patch_loads_the_loops_vamen_announces_and_steers_vamen(tiny_model, tmp_path):
    need_programs("puredata-core", "pd")
    listen, vamen_port = free_port(), free_port()
    driver = tmp_path / "driver.pd"
    driver.write_text(DRIVER)
    log_path = tmp_path / "pd.log"
    with open(log_path, "w") as log:
        pd = subprocess.Popen(
            ["pd", "-nogui", "-nosound", "-stderr", "-open", str(PATCH), "-open", str(driver),
             "-send", f"vamen-listen {listen}", "-send", f"vamen-port {vamen_port}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    served = None
    folder = tmp_path / "loops"
    try:
        served = Vamen(tiny_model, tmp_path, "--sink", "notify", "--tempo", 120,
                       "--notify", f"127.0.0.1:{listen}", "--notify-dir", folder, port=vamen_port)
        deadline = time.time() + 20
        while time.time() < deadline and "vamen-playing" not in log_path.read_text():
            time.sleep(0.2)
        time.sleep(1.0)  # the driver's [s vamen-z0] goes out as the first loop loads
        steered = served.state()["latent"]
        served.send("/vamen/walk", 2.0, 1.0, 5)  # a walk: a new loop every beat
        time.sleep(3.0)
        state = served.state()
    finally:
        if served is not None:
            served.stop()
        pd.terminate()
        pd.wait(timeout=10)
    out = log_path.read_text()
    loaded = [int(line.split(":")[1]) for line in out.splitlines() if line.startswith("vamen-loaded:")]
    bar = round(4 * 60 / 120 * RATE)
    assert loaded and all(abs(n - bar) <= 1 for n in loaded), out[-2000:]
    assert len(loaded) >= 3, f"only {len(loaded)} loops loaded:\n{out[-2000:]}"
    assert "vamen-playing: symbol vamen-" in out, out[-2000:]
    assert "soundfiler" not in out, out[-2000:]  # (it only speaks up to complain)
    assert float(steered.split(",")[0]) == 1.5, steered
    assert state["notify_sent"] >= 3 and not state["last_error"], state
    files = sorted(p.name for p in folder.glob("*.wav")) if folder.exists() else []
    assert 1 <= len(files) <= 8, files
