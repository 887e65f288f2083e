"""The map's plane: where the anchors spread most, so the map shows them apart.

:func:`principal_plane` takes the anchors' latent means and returns an
origin and two orthonormal axes, the first two principal components. A
point ``z`` sits at ``axes @ (z - origin)`` on the map; the page moves the
point to a place ``p`` on the map by changing only its part in the plane::

    z' = z + axes.T @ (p - axes @ (z - origin))

so the other coordinates stay where they were and ``z'`` lands exactly at
``p``. With fewer than three anchors, or anchors all in one place, the
plane is the first two coordinates.

Contents
--------
principal_plane   anchors -> (origin [shape=(dim,)], axes [shape=(2, dim)])
"""
from __future__ import annotations

import numpy as np


def principal_plane(anchors: np.ndarray, latent_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The plane through the anchors' mean along their two main principal axes.

    Parameters
    ----------
    anchors : np.ndarray [shape=(n, latent_dim)]
        The anchors' latent means (n may be 0).
    latent_dim : int

    Returns
    -------
    origin : np.ndarray [shape=(latent_dim,)]
    axes : np.ndarray [shape=(2, latent_dim)]
        Orthonormal rows; each axis's sign is chosen so its largest entry is positive.
    """
    dim = int(latent_dim)
    axes = np.eye(2, dim) if dim >= 2 else np.ones((2, dim)) / np.sqrt(max(dim, 1))
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, dim)
    if len(anchors) < 3 or dim < 2:
        return (anchors.mean(axis=0) if len(anchors) else np.zeros(dim)), axes
    origin = anchors.mean(axis=0)
    _, singular, vt = np.linalg.svd(anchors - origin, full_matrices=False)
    if len(singular) < 2 or singular[1] <= 1e-9 * max(singular[0], 1e-12):
        return origin, axes
    axes = vt[:2].copy()
    for row in axes:  # SVD signs are arbitrary: fix them so the map does not flip between runs
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1
    return origin, axes
