"""Who may open the page, and that nothing listens without ``--web``: real ``vamen serve`` processes.

"Another host" is this machine's own non-loopback address: a request to
it comes from it, which is not loopback, so the allow-list decides.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import urllib.error
import urllib.request

import psutil
import pytest

from clients import Vamen
from pages import free_tcp_port
from waiting import wait_for

pytestmark = pytest.mark.slow


def _outside_address() -> str:
    """An IPv4 address of this machine that is not loopback, or skip."""
    for addresses in psutil.net_if_addrs().values():
        for a in addresses:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return a.address
    pytest.skip("this machine has no non-loopback IPv4 address to stand in for another host")


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _up(vamen) -> dict:
    """The state, once the control thread (started last, after the web server) answers."""
    def ask():
        try:
            return vamen.state()
        except OSError:
            return None
    return wait_for(ask, 90, "the server's first state")


def _listening(pid: int) -> list:
    return [c.laddr for c in psutil.Process(pid).net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]


def test_without_web_nothing_listens(tiny_model, tmp_path):
    vamen = Vamen(tiny_model, tmp_path, "--sink", "file", "--record", tmp_path / "r.wav")
    try:
        _up(vamen)
        assert _listening(vamen.proc.pid) == []
    finally:
        vamen.stop()


def test_by_default_only_this_machine_reaches_the_page(tiny_model, tmp_path):
    outside = _outside_address()
    port = free_tcp_port()
    vamen = Vamen(tiny_model, tmp_path, "--web", port, "--sink", "file", "--record", tmp_path / "r.wav")
    try:
        _up(vamen)
        assert [(a.ip, a.port) for a in _listening(vamen.proc.pid)] == [("127.0.0.1", port)]
        assert _get(f"http://127.0.0.1:{port}/") == 200
        with pytest.raises(OSError):
            socket.create_connection((outside, port), timeout=5).close()
    finally:
        vamen.stop()


def test_a_host_outside_the_allow_list_is_refused(tiny_model, tmp_path):
    outside = _outside_address()
    port = free_tcp_port()
    vamen = Vamen(tiny_model, tmp_path, "--web", port, "--web-host", "0.0.0.0", "--allow", "203.0.113.0/24",
                  "--sink", "file", "--record", tmp_path / "r.wav")
    try:
        _up(vamen)
        assert _get(f"http://{outside}:{port}/") == 403
        assert _get(f"http://{outside}:{port}/ws") == 403  # the live connection too
        assert _get(f"http://127.0.0.1:{port}/") == 200  # this machine always may
        # a reply to an earlier, timed-out ask may still be waiting: the count is read until it shows
        wait_for(lambda: vamen.state()["web_refused"] == 2, 30, "two refusals counted")
    finally:
        vamen.stop()
    assert "web page on http://0.0.0.0" in vamen.output()  # the exposure is said at start


def test_a_taken_web_port_is_one_line_and_exit_2(tiny_model, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "serve", "--model", str(tiny_model),
                              "--osc-port", "0", "--web", str(port), "--fresh", "--quiet", "--sink", "file",
                              "--record", str(tmp_path / "r.wav")],
                             capture_output=True, text=True, timeout=120,
                             env={**__import__("os").environ, "XDG_DATA_HOME": str(tmp_path)})
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert any(f"cannot serve the web page on 127.0.0.1:{port}" in line for line in lines), run.stderr
    assert "Traceback" not in run.stderr


def test_web_port_in_vamen_toml_is_checked_like_the_flag(tmp_path):
    from vamen.server.options import from_file

    assert from_file("web-port", 8080, tmp_path) == ("web_port", 8080)
    assert from_file("web-host", "0.0.0.0", tmp_path) == ("web_host", "0.0.0.0")
    with pytest.raises(ValueError, match="web-port"):
        from_file("web-port", 70000, tmp_path)
