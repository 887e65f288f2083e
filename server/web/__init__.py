"""The web page: play and watch vamen from a phone or a laptop (``vamen serve --web PORT``).

One HTTP server (aiohttp) on its own thread and its own asyncio loop serves
the page's files, shipped in ``static/``, and one WebSocket per open page.
A page sends OSC-shaped messages (``{"address": "/vamen/tempo", "args":
[140]}``) that go through the very parser and command queue OSC uses, so
the same input gets the same error; the server pushes the state (what
``/vamen/state`` says), the spectrograms of the loop playing and the next,
and the health figures to every page ten times a second.

Contents
--------
wire            page message (JSON text) -> commands, or BadMessage; the state as JSON
plane           the 2-D map: the anchors' two main principal axes
spectrogram     a loop listener that makes each new loop's spectrogram (a small PNG)
server          WebServer: ``start()``, ``close()``, ``port``, ``owns()``, ``send()``
"""
