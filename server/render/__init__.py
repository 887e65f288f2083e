"""Render: turning points in latent space into loops, ahead of time.

The two threads here are the only ones that run the model (torch).

Contents
--------
worker      RenderWorker: the render thread; renders the next bars in batches, queues cues
encoder     EncodeWorker: the encode thread; reads and encodes files for ``/vamen/encode``
loops       joining rendered bars without clicks (``vamen render``)

May import: :mod:`vamen.server.core` and :mod:`vamen.server.audio` (the
player it fills).
"""
