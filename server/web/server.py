"""The page's HTTP and WebSocket server: aiohttp on a thread and an event loop of its own.

``GET /`` is the page, ``GET /static/<file>`` its script and style (shipped
in this package: no CDN, no build step), ``GET /ws`` the live connection.
Every request first passes the OSC allow-list (:meth:`Guard.allows`): a host
it does not let in gets 403 and nothing else. It binds loopback unless told
otherwise (``--web-host``).

A page's messages go through :func:`vamen.server.web.wire.read_message`
(the OSC parser) and onto the engine's command queue, exactly as OSC's do;
a page that sends too fast is held to the OSC rate limits by a
:class:`Guard` of its own (the same settings), and told so once a second.
Replies the control thread makes to a page (``/vamen/error`` for an unknown
preset, a preset list) come back through :meth:`WebServer.send`, which the
engine's ``reply`` calls for a page's source; they are handed to the loop
with ``call_soon_threadsafe`` and never wait on a socket.

Ten times a second the loop reads the state (as ``/vamen/state`` tells it,
read from this thread as the metrics endpoint reads its figures: the
control thread does no work for the page) and sends it to every page; the
spectrograms go when the loop playing, or the next, changes. Each page has
a small outbox: a page too slow to read loses old states, never holds up
the others.

Contents
--------
WebServer   ``start()``, ``close()``, ``port``, ``owns(source)``, ``send(address, args, to)``, ``health()``
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import threading
import time
from importlib import resources

import numpy as np
from aiohttp import WSMsgType, web

from vamen.server.core import commands as c
from vamen.server.sources.guard import Guard
from vamen.server.sources.osc import ADDRESSES, BadMessage
from vamen.server.web import wire
from vamen.server.web.plane import principal_plane

log = logging.getLogger(__name__)

PUSH_SECONDS = 0.1  # state to every page this often: a change shows on the others well within a beat
OUTBOX = 32  # messages waiting for one page; beyond, the oldest state is dropped
SLOW_DOWN_SECONDS = 1.0  # a flooding page is told at most this often
MAX_FRAME = 1 << 20  # aiohttp closes the connection beyond this; up to it, a message too long is answered
PAGE = "page "  # a page's source is ("page <ip>", port): never mistaken for an OSC sender's
STATIC = ("index.html", "page.js", "page.css")
TYPES = {"html": "text/html", "js": "text/javascript", "css": "text/css"}


class _Page:
    """One open page: its socket, its outbox, when it was last told to slow down."""

    def __init__(self, ws: web.WebSocketResponse, source: tuple[str, int]) -> None:
        self.ws = ws
        self.source = source
        self.outbox: asyncio.Queue = asyncio.Queue(maxsize=OUTBOX)
        self.told_slow = -SLOW_DOWN_SECONDS

    def post(self, text: str) -> None:
        """Queue one JSON text for the page (the loop's thread); drops the oldest when full."""
        while True:
            try:
                self.outbox.put_nowait(text)
                return
            except asyncio.QueueFull:
                self.outbox.get_nowait()


class WebServer:
    """The page and its live connection for one engine.

    Parameters
    ----------
    engine : Engine
        Started: its ``commands``, ``control``, ``model``, ``player``, ``osc``.
    spectrograms : Spectrograms
        The render worker's listener that draws each loop.
    guard : Guard
        The page's own guard, with OSC's allow-list and limits.
    host, port : str, int
        Where to listen; port 0 picks a free one (see :attr:`port`).
    """

    def __init__(self, engine, spectrograms, guard: Guard, host: str = "127.0.0.1", port: int = 0) -> None:
        self.engine = engine
        self.spectrograms = spectrograms
        self.guard = guard
        self.host = host
        self._requested_port = port
        self.port = port
        self._pages: dict[tuple[str, int], _Page] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._failed: BaseException | None = None
        self._shown = (None, None)
        self._spectra = ""
        self.refused = 0  # requests from hosts outside the allow-list
        self.messages = 0
        self.thread_id: int | None = None  # the serving thread's, for its CPU time (the soak)
        model = engine.model
        names = list(model.anchors)
        latents = np.array([model.anchors[n] for n in names], dtype=np.float64).reshape(-1, model.latent_dim)
        origin, axes = principal_plane(latents, model.latent_dim)
        self._hello = json.dumps({
            "type": "hello", "latent_dim": model.latent_dim,
            "anchors": [{"name": n, "z": _rounded(z)} for n, z in zip(names, latents)],
            "plane": {"origin": _rounded(origin), "axes": [_rounded(a) for a in axes]},
            "addresses": list(ADDRESSES)})

    # -- the engine's side (any thread) ---------------------------------------------

    def owns(self, to) -> bool:
        """Whether ``to`` is a page's source (the engine's ``reply`` asks before sending OSC)."""
        return isinstance(to, tuple) and len(to) == 2 and isinstance(to[0], str) and to[0].startswith(PAGE)

    def send(self, address: str, args: list, to: tuple[str, int]) -> bool:
        """Send a reply to one page; False when it is gone. Never blocks."""
        page, loop = self._pages.get(to), self._loop
        if page is None or loop is None:
            return False
        text = json.dumps(wire.outgoing(address, list(args)), allow_nan=False, default=str)
        loop.call_soon_threadsafe(page.post, text)
        return True

    def health(self) -> dict:
        return {"web_pages": len(self._pages), "web_refused": self.refused,
                "web_dropped": sum(self.guard.totals.values())}

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> "WebServer":
        """Bind and serve; VamenError (one sentence) when the port is taken or the host is not ours."""
        self._thread = threading.Thread(target=self._run, name="vamen-web", daemon=True)
        self._thread.start()
        self._started.wait(30)
        if self._failed is not None or not self._started.is_set():
            from vamen.model.errors import VamenError

            exc = self._failed
            self.close()
            why = getattr(exc, "strerror", None) or exc or "it did not start in 30 s"
            raise VamenError(f"cannot serve the web page on {self.host}:{self._requested_port}: {why}")
        log.info("web page on %s", self.url)
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def exposure(self) -> str | None:
        """One sentence for the start-up notes when the page can be reached beyond this machine."""
        try:
            if ipaddress.ip_address(self.host).is_loopback:
                return None
        except ValueError:
            if self.host == "localhost":
                return None
        limit = ("only this machine and the OSC allow-list may open it" if self.guard.networks is not None
                 else "anyone who can reach this machine can play it; --allow NET limits who")
        return f"web page on {self.url}: {limit}"

    def close(self) -> None:
        loop = self._loop
        if loop is not None and self._thread is not None and loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=5)
            except Exception:  # a hung page must not keep vamen from stopping
                log.debug("web shutdown", exc_info=True)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        self.thread_id = threading.get_native_id()
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # the port is taken, the host is not ours
            self._failed = exc
            self._started.set()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._allowed], client_max_size=MAX_FRAME)
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/ws", self._socket)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._pusher = asyncio.get_running_loop().create_task(self._push())

    async def _shutdown(self) -> None:
        self._pusher.cancel()
        for page in list(self._pages.values()):
            await page.ws.close(code=1001, message=b"vamen stopped")
        if self._runner is not None:
            await self._runner.cleanup()

    # -- HTTP ------------------------------------------------------------------------------

    @web.middleware
    async def _allowed(self, request: web.Request, handler):
        if not self.guard.allows(request.remote or ""):
            self.refused += 1
            return web.Response(status=403, text="vamen: this host may not open the page "
                                                 "(not on the allow-list)\n")
        return await handler(request)

    async def _index(self, request: web.Request) -> web.Response:
        return self._file("index.html")

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound(text="not a file of the page\n")
        return self._file(name)

    @staticmethod
    def _file(name: str) -> web.Response:
        body = resources.files("vamen.server.web").joinpath("static", name).read_bytes()
        return web.Response(body=body, content_type=TYPES[name.rsplit(".", 1)[1]], charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    # -- the live connection -------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, heartbeat=20)
        await ws.prepare(request)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        port = int(peer[1]) if peer else id(ws) & 0xFFFF
        source = (PAGE + (request.remote or "?"), port)
        page = self._pages[source] = _Page(ws, source)
        writer = asyncio.get_running_loop().create_task(self._write(page))
        page.post(self._hello)
        page.post(self._state_text())
        if self._spectra:
            page.post(self._spectra)
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    self._take(page, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._pages.pop(source, None)
            writer.cancel()
        return ws

    async def _write(self, page: _Page) -> None:
        try:
            while True:
                text = await page.outbox.get()
                await page.ws.send_str(text)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            return

    def _take(self, page: _Page, data) -> None:
        """One message from a page: checked, parsed, queued; errors answered to that page."""
        self.messages += 1
        source = page.source
        if not self.guard.admit((source[0][len(PAGE):], source[1])):
            now = time.monotonic()
            if now - page.told_slow >= SLOW_DOWN_SECONDS:
                page.told_slow = now
                self._error(page, "", f"too many messages: over {self.guard.rate:g} a second; "
                                      "slow down (messages are being dropped)")
            return
        try:
            cmds = wire.read_message(data, source, self.engine.model.latent_dim)
        except BadMessage as exc:
            self._error(page, exc.address, exc.message)
            return
        for cmd in cmds:
            if isinstance(cmd, c.Ping):
                page.post(json.dumps(wire.outgoing("/vamen/pong", [])))
                continue
            try:
                self.engine.commands.put_nowait(cmd)
            except Exception:  # queue.Full: this page's share of the queue is full
                self._error(page, cmd.address, "server busy: command queue full, command dropped")

    def _error(self, page: _Page, address: str, message: str) -> None:
        note = getattr(self.engine, "note_error", None)
        if note is not None:
            note([address, message])
        page.post(json.dumps({"type": "error", "address": address, "message": message}))

    # -- pushing state -------------------------------------------------------------------------

    async def _push(self) -> None:
        while True:
            await asyncio.sleep(PUSH_SECONDS)
            if not self._pages:
                continue
            try:
                texts = [self._state_text()]
                spectra = self._spectra_text()
                if spectra is not None:
                    texts.append(spectra)
            except Exception:  # a figure that cannot be read this time must not end the page
                log.debug("web state", exc_info=True)
                continue
            for page in list(self._pages.values()):
                for text in texts:
                    page.post(text)

    def _state_text(self) -> str:
        e = self.engine
        fields = wire.state_fields(e.control.state(e.now_beat()))
        presets = e.control.presets
        try:
            names = presets.names()
        except RuntimeError:  # the control thread saved one just now: next time
            names = []
        fields["presets"] = [{"name": n, "z": _rounded(p)} for n in names
                             if (p := presets.get(n)) is not None]
        guard = getattr(e.osc, "guard", None)
        fields["senders"] = guard.senders() if guard is not None else []
        fields["time"] = time.time()
        return json.dumps({"type": "state", **fields}, allow_nan=False, default=str)

    def _spectra_text(self) -> str | None:
        """The spectra message when the loop playing now or the next one changed, else None."""
        now, later = self.spectrograms.around(self.engine.player.position)
        key = (now and now.serial, later and later.serial)
        if key == self._shown:
            return None
        self._shown = key
        self._spectra = json.dumps({"type": "spectra", "now": now.fields() if now else None,
                                    "next": later.fields() if later else None})
        return self._spectra


def _rounded(values) -> list[float]:
    return [round(float(v), 4) for v in np.asarray(values).reshape(-1)]
