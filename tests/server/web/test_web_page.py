"""The web page in a real browser: headless Chromium against a real ``vamen serve --web``.

One server for the module (the tiny model, recording to a file: no sound
card needed). The page is driven as a user would (a drag on the map, a
press on a preset), and what the test asserts is what the server says over
OSC (``/vamen/state``), the page's own display, and the console.
"""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from clients import Vamen
from oscclient import message
from pages import ARTEFACTS, COLD, LAPTOP, PHONE, chromium, console_errors, free_tcp_port, resize
from waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tiny_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    port = free_tcp_port()
    vamen = Vamen(tiny_model, tmp, "--web", port, "--sink", "file", "--record", tmp / "played.wav")
    vamen.web = f"http://127.0.0.1:{port}/"
    yield vamen
    vamen.stop()


@pytest.fixture(scope="module")
def page(served):
    driver = chromium(served.web, PHONE)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def other_page(served):
    driver = chromium(served.web, LAPTOP, mobile=False)
    yield driver
    driver.quit()


def _latent(served) -> np.ndarray:
    return np.array([float(v) for v in served.state()["latent"].split(",")])


def _settled(served, timeout=COLD) -> np.ndarray:
    """The latent once two states a beat apart agree (a glide or a landing is over)."""
    def still():
        a = _latent(served)
        time.sleep(0.6)
        b = _latent(served)
        return (b,) if np.abs(a - b).max() < 1e-3 else None
    return wait_for(still, timeout, "the latent to settle")[0]


def test_page_loads_with_no_console_errors_and_shows_the_server(served, page):
    shown = page.execute_script("return document.getElementById('tempo-shown').textContent")
    assert shown == f"{served.state()['tempo']:.1f} BPM"
    dims = page.execute_script("return document.querySelectorAll('#dims input').length")
    assert dims == served.state()["latent_dim"]
    wait_for(lambda: page.execute_script("return !!document.getElementById('spec-now').src"), COLD,
             "the spectrogram of the loop playing now")
    assert console_errors(page) == []


def test_screenshots_at_phone_and_laptop_size(served, page):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    served.send("/vamen/walk", 0.8, 1.0, 3)  # something moving on the map
    time.sleep(3)
    for name, size, mobile in (("phone", PHONE, True), ("laptop", LAPTOP, False)):
        resize(page, size, mobile)
        page.execute_script("window.scrollTo(0, 0); window.dispatchEvent(new Event('resize'))")
        time.sleep(1.5)
        path = ARTEFACTS / f"page-{name}.png"
        assert page.save_screenshot(str(path))
        assert 10_000 < path.stat().st_size < 600_000
    resize(page, PHONE, True)
    served.send("/vamen/walk", 0.0)
    assert console_errors(page) == []


def test_dragging_on_the_map_moves_the_servers_latent_there(served, page):
    from selenium.webdriver.common.action_chains import ActionChains
    from vamen.model.loopmodel import LoopModel
    from vamen.server.web.plane import principal_plane

    model = LoopModel.load(served_model(served), "cpu")
    names = list(model.anchors)
    origin, axes = principal_plane(np.array([model.anchors[n] for n in names]), model.latent_dim)
    served.send("/vamen/walk", 0.0)
    served.send("/vamen/glide", 0.0)
    before = _settled(served)
    page.execute_script("document.getElementById('map').scrollIntoView({block: 'center'})")
    canvas = page.find_element("id", "map")
    box = page.execute_script("const r = document.getElementById('map').getBoundingClientRect();"
                              "return [r.width, r.height, vamen.view]")
    width, height, view = box
    # drag from the centre to a quarter of the way up and to the right
    dx, dy = width * 0.25, -height * 0.2
    ActionChains(page).move_to_element(canvas).click_and_hold().pause(0.1) \
        .move_by_offset(dx / 2, dy / 2).pause(0.1).move_by_offset(dx / 2, dy / 2).pause(0.3).release().perform()
    x, y = width / 2 + dx, height / 2 + dy
    want = np.array([view["xmin"] + x / width * (view["xmax"] - view["xmin"]),
                     view["ymin"] + (1 - y / height) * (view["ymax"] - view["ymin"])])
    tolerance = 0.03 * (view["xmax"] - view["xmin"])  # a few pixels
    got = wait_for(lambda: (lambda z: (z,) if np.abs(axes @ (z - origin) - want).max() < tolerance else None)(
        _latent(served)), COLD, f"the latent to reach {want} on the map")[0]
    assert np.abs(axes @ (before - origin) - want).max() > 5 * tolerance  # it did move
    off_plane = (np.eye(len(got)) - axes.T @ axes)
    assert np.abs(off_plane @ (got - before)).max() < 0.01  # only its place on the map changed
    assert console_errors(page) == []


def served_model(served):
    cmd = served.proc.args
    return cmd[cmd.index("--model") + 1]


#: For a failure's message: every click and pointer press the page gets (with the element under
#: it) and every message it sends from then on.
_WATCH_CLICKS_AND_SENDS = """
  window.watched = [];
  const seen = (what) => window.watched.push([Math.round(performance.now()), what]);
  for (const kind of ["click", "pointerdown", "pointerup"])
    document.addEventListener(kind, (e) => seen(kind + " " + (e.target.id || e.target.dataset.preset
      || e.target.tagName) + " at " + e.clientX + "," + e.clientY), true);
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) { seen("sent " + data); return send.call(this, data); };
"""


def test_pressing_a_preset_loads_it(served, page):
    served.send("/vamen/glide", 0.0)
    served.send("/vamen/random", 1.5, 7)
    verse = _settled(served)
    served.send("/vamen/preset/save", "verse")
    served.send("/vamen/latent", *([0.0] * len(verse)))
    _settled(served)
    button = wait_for(lambda: page.find_elements("css selector", "#presets button[data-preset='verse']"),
                      COLD, "the preset's button")[0]
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    page.execute_script(_WATCH_CLICKS_AND_SENDS)
    button.click()
    try:
        wait_for(lambda: np.abs(_latent(served) - verse).max() < 2e-3, COLD, "the preset to load")
    except AssertionError:
        raise AssertionError(f"the preset did not load: {_latent(served)} vs {verse}; the page's errors: "
                             f"{page.execute_script('return vamen.errors')}; what the page saw and sent: "
                             f"{page.execute_script('return window.watched')}") from None
    assert console_errors(page) == []


def test_the_spectrogram_changes_when_the_loop_changes(served, page):
    served.send("/vamen/glide", 0.0)
    _settled(served)
    time.sleep(2.5)  # the loop now playing is the settled one
    before = page.execute_script("return document.getElementById('spec-now').src")
    page.execute_script("document.getElementById('random').click()")
    wait_for(lambda: page.execute_script("return document.getElementById('spec-now').src") not in ("", before),
             COLD, "a new spectrogram for the new loop")
    assert console_errors(page) == []


def test_a_second_page_sees_a_change_within_one_beat(served, page, other_page):
    bpm = 137.0
    other_page.execute_script("""
        window.sawAt = 0;
        const shown = document.getElementById('tempo-shown');
        new MutationObserver(() => { if (shown.textContent === arguments[0] && !window.sawAt) window.sawAt = Date.now(); })
            .observe(shown, {childList: true, characterData: true, subtree: true});""", f"{bpm:.1f} BPM")
    page.execute_script("document.getElementById('tempo').scrollIntoView({block: 'center'})")
    asked = page.execute_script("""
        const t = document.getElementById('tempo'); t.value = arguments[0];
        const at = Date.now(); document.getElementById('tempo-set').click(); return at;""", str(bpm))
    seen = wait_for(lambda: other_page.execute_script("return window.sawAt"), COLD, "the other page's tempo")
    assert served.state()["tempo"] == pytest.approx(bpm)
    beat_ms = 60_000 / bpm
    print(f"the second page showed the tempo {seen - asked} ms after the first page's press (a beat: {beat_ms:.0f} ms)")
    assert seen - asked < beat_ms
    assert console_errors(page) == [] and console_errors(other_page) == []


def test_the_playhead_steps_once_a_beat_in_time_with_the_server(served, page):
    """bar.beat on the page moves on every beat, in order, none skipped, a beat apart."""
    tempo = served.state()["tempo"]
    beat_ms = 60_000 / tempo
    page.execute_script("""
        window.steps = [];
        const shown = document.getElementById('playhead');
        new MutationObserver(() => window.steps.push([shown.textContent, performance.now()]))
            .observe(shown, {childList: true, characterData: true, subtree: true});""")
    time.sleep(12 * beat_ms / 1000)
    steps = page.execute_script("return window.steps")
    beats = [(int(b) - 1) * 4 + int(k) - 1 for b, k in (text.split(".") for text, _ in steps)]
    print(f"{len(steps)} steps in 12 beats: {[text for text, _ in steps]}")
    assert len(steps) >= 10
    assert all(b - a == 1 for a, b in zip(beats, beats[1:])), [text for text, _ in steps]
    gaps = np.diff([at for _, at in steps])
    assert abs(float(np.median(gaps)) - beat_ms) < 0.1 * beat_ms, gaps
    # what the page shows against the server's beat, read back to back (a beat may have
    # passed since the last step recorded above: that is the page keeping up, not a fault)
    state = served.state()
    shown = page.execute_script("return document.getElementById('playhead').textContent")
    bar, beat = (int(v) for v in shown.split("."))
    page_beat = (bar - 1) * 4 + beat - 1
    server_beat = state["bar"] * 4 + state["beat"]
    assert abs(page_beat - server_beat) <= 1.5, (shown, state["bar"], state["beat"])
    assert console_errors(page) == []


BAD = [
    ('{"address": "/vamen/tempo", "args": [NaN]}', "/vamen/tempo: tempo must be a finite number"),
    ("this is not json", "not JSON"),
    ('{"address": "/vamen/tempi", "args": [90]}', "/vamen/tempi: unknown address; did you mean /vamen/tempo?"),
    ('{"address": "/vamen/gain", "args": ["loud"]}', "/vamen/gain: gain must be a number"),
    (json.dumps({"address": "/vamen/latent", "args": [0.5] * 4000}), "message too long"),
    ('{"address": "/vamen/preset/load", "args": ["nobody saved me"]}', "unknown preset"),
]


@pytest.mark.parametrize("text, said", BAD, ids=["nan", "malformed", "unknown", "type", "oversized", "no-preset"])
def test_bad_input_gets_an_error_on_the_page_and_changes_nothing(served, page, other_page, text, said):
    before = served.state()
    errors = page.execute_script("return vamen.errors.length")
    page.execute_script("vamen.socket.send(arguments[0])", text)
    wait_for(lambda: page.execute_script("return vamen.errors.length") > errors, COLD, "the error")
    shown = page.execute_script("const e = document.getElementById('error'); return e.hidden ? '' : e.textContent")
    assert said in shown
    after = served.state()
    for key in ("tempo", "gain", "latent", "presets", "playing", "quantize"):
        assert after[key] == before[key], key
    _still_serving(served, other_page)
    assert console_errors(page) == []


def _still_serving(served, other_page):
    """OSC answers, and the other page keeps getting states."""
    assert served.client.ask(message("/vamen/ping"))[0] == "/vamen/pong"
    at = other_page.execute_script("return vamen.stateAt")
    wait_for(lambda: other_page.execute_script("return vamen.stateAt") > at, 10, "the other page's next state")


def test_a_flood_from_one_page_is_told_to_slow_down_and_others_go_on(served, page, other_page):
    gain = served.state()["gain"]
    page.execute_script("""
        for (let i = 0; i < 6000; i++) vamen.socket.send(JSON.stringify({address: '/vamen/gain', args: [arguments[0]]}));""",
                        gain)
    wait_for(lambda: any("too many messages" in e["message"] or "server busy" in e["message"]
                         for e in page.execute_script("return vamen.errors")), COLD, "the flood's error")
    _still_serving(served, other_page)
    assert served.state()["gain"] == gain
    # and the flooding page itself is still served once it stops
    at = page.execute_script("return vamen.stateAt")
    wait_for(lambda: page.execute_script("return vamen.stateAt") > at, 20, "the flooding page's next state")
    assert console_errors(page) == []
