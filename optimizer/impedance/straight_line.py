"""Distances and sparse coverage between demand points and candidate sites.

Everything here works on planar coordinates in metres, taken from a projected
CRS. Coverage is computed with a k-d tree, so cost grows with the number of
(demand, site) pairs *within range* — the nonzeros — never with
demand × sites.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from ..datum import planar_xy, projected_crs  # re-exported: listed in __all__

# Points exactly on a service radius count as covered; reprojection leaves
# ~1e-9 m of noise on such distances, so compare with a millimetre of slack.
RADIUS_TOLERANCE_M = 1e-3

__all__ = [
    "projected_crs",
    "planar_xy",
    "coverage_pairs",
    "coverage_matrix",
    "nearest_distance",
    "radius_from_travel_time",
]


def coverage_pairs(
    demand_xy: np.ndarray,
    site_xy: np.ndarray,
    radius: float | np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (demand, site) pairs no farther apart than ``radius``.

    Parameters
    ----------
    demand_xy, site_xy
        ``(n, 2)`` and ``(m, 2)`` planar coordinates in metres.
    radius
        A distance in metres, or one per demand point (e.g. different urban
        and rural service standards).

    Returns
    -------
    rows, cols, dist
        Demand indices, site indices and distances in metres of the pairs in
        range, sorted by demand then site. Pairs at distance 0 are included,
        and so are pairs exactly at the radius (within ``RADIUS_TOLERANCE_M``).
    """
    demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
    site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
    radius_arr = np.asarray(radius, dtype=float)
    if radius_arr.ndim and radius_arr.shape != (len(demand_xy),):
        raise ValueError(f"radius has shape {radius_arr.shape}, expected ({len(demand_xy)},) or a scalar")
    if len(demand_xy) == 0 or len(site_xy) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy(), np.empty(0)
    max_radius = float(radius_arr.max()) if radius_arr.ndim else float(radius_arr)
    if max_radius < 0 or not np.isfinite(max_radius):
        raise ValueError(f"radius must be finite and non-negative, got {max_radius}")
    pairs = cKDTree(demand_xy).sparse_distance_matrix(
        cKDTree(site_xy), max_radius + RADIUS_TOLERANCE_M, output_type="ndarray"
    )
    rows = pairs["i"].astype(np.int64)
    cols = pairs["j"].astype(np.int64)
    dist = pairs["v"].astype(float)
    if radius_arr.ndim:
        keep = dist <= radius_arr[rows] + RADIUS_TOLERANCE_M
        rows, cols, dist = rows[keep], cols[keep], dist[keep]
    order = np.lexsort((cols, rows))
    return rows[order], cols[order], dist[order]


def coverage_matrix(
    demand_xy: np.ndarray,
    site_xy: np.ndarray,
    radius: float | np.ndarray,
) -> sp.csr_array:
    """Sparse ``demand × site`` matrix of distances for pairs within ``radius``.

    Stored entries mark coverage; their values are the distances in metres.
    Pairs at distance 0 are kept as explicit entries, so ``.nnz`` counts the
    covering pairs — do not call ``eliminate_zeros`` on the result.
    """
    rows, cols, dist = coverage_pairs(demand_xy, site_xy, radius)
    n, m = len(np.asarray(demand_xy).reshape(-1, 2)), len(np.asarray(site_xy).reshape(-1, 2))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, rows + 1, 1)
    np.cumsum(indptr, out=indptr)
    return sp.csr_array((dist, cols, indptr), shape=(n, m))


def nearest_distance(demand_xy: np.ndarray, site_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (metres) from each demand point to its nearest site, and that site's index.

    With no sites, every distance is ``inf`` and every index ``-1``.
    """
    demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
    site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
    if len(site_xy) == 0:
        return np.full(len(demand_xy), np.inf), np.full(len(demand_xy), -1, dtype=np.int64)
    dist, idx = cKDTree(site_xy).query(demand_xy, k=1)
    return np.asarray(dist, dtype=float), np.asarray(idx, dtype=np.int64)


def radius_from_travel_time(minutes: float, speed_kmh: float, detour_factor: float = 1.0) -> float:
    """Straight-line radius in metres reachable in ``minutes`` at ``speed_kmh``.

    Roads are longer than straight lines; ``detour_factor`` (network distance
    over straight-line distance, typically 1.2–1.5) shrinks the radius
    accordingly.
    """
    if minutes < 0 or speed_kmh <= 0 or detour_factor < 1:
        raise ValueError("need minutes >= 0, speed_kmh > 0 and detour_factor >= 1")
    return minutes / 60.0 * speed_kmh * 1000.0 / detour_factor
