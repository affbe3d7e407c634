"""The common form of every impedance: sparse (demand, target, minutes, km) pairs.

An impedance says how far a demand point is from a target (a candidate site
or a facility). Whatever it is built from — straight lines, an OD matrix file,
a road network — it answers with the same sparse product as
:func:`optimizer.distance.coverage_pairs`: the pairs in reach only, never a
demand × targets table.

Service standards (:class:`~optimizer.config.ServiceStandard`) are applied in
one place, :meth:`Impedance.reach`: a ``minutes`` standard is compared with
travel minutes, a ``distance_km`` standard with (network) km.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ..config.schema import ServiceStandard
from .straight_line import coverage_pairs, nearest_distance

__all__ = ["Points", "Pairs", "Impedance", "StraightLine", "standard_limits", "join_on_keys", "EMPTY_PAIRS"]

Pairs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""``(rows, cols, minutes, km)``: demand index, target index, travel minutes, km.

Sorted by demand then target. ``minutes`` or ``km`` is NaN where the
impedance does not give it (a straight line has no minutes of its own; an
OD matrix may have only one of the two).
"""

EMPTY_PAIRS: Pairs = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0))

# Travel times exactly on a standard count as in reach; summing leg times leaves
# ~1e-12 min of noise, so compare with a microsecond of slack.
MINUTES_TOLERANCE = 1e-8
KM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Points:
    """Demand points or targets: their IDs and planar coordinates (metres, the region's projected CRS)."""

    ids: np.ndarray
    xy: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", np.asarray(self.ids, dtype=object).astype(str))
        object.__setattr__(self, "xy", np.asarray(self.xy, dtype=float).reshape(-1, 2))

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: np.ndarray) -> Points:
        """The points at positions ``index`` (integer positions or a boolean mask)."""
        return Points(self.ids[index], self.xy[index])


def standard_limits(
    urban_std: ServiceStandard, rural_std: ServiceStandard, urban: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per demand point: its minutes limit and its km limit (NaN where its standard is of the other kind).

    Parameters
    ----------
    urban_std, rural_std
        The facility type's standards.
    urban
        Boolean per demand point.
    """
    urban = np.asarray(urban, dtype=bool)
    minutes = np.full(len(urban), np.nan)
    km = np.full(len(urban), np.nan)
    for std, mask in ((urban_std, urban), (rural_std, ~urban)):
        if std.minutes is not None:
            minutes[mask] = std.minutes
        else:
            km[mask] = std.distance_km
    return minutes, km


def join_on_keys(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ``(i, j)`` with ``left[i] == right[j]`` (integer keys), in bulk.

    Used to expand pairs between network nodes (or matrix IDs) to pairs
    between the points placed at them; cost grows with the matches.
    """
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    order = np.argsort(right, kind="stable")
    sorted_right = right[order]
    lo = np.searchsorted(sorted_right, left, side="left")
    hi = np.searchsorted(sorted_right, left, side="right")
    counts = hi - lo
    i = np.repeat(np.arange(len(left), dtype=np.int64), counts)
    if len(i) == 0:
        return i, np.empty(0, np.int64)
    # position within each run: global index minus the start of its run
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    j = order[np.repeat(lo, counts) + (np.arange(len(i)) - starts)]
    return i, j.astype(np.int64)


def _sorted(rows: np.ndarray, cols: np.ndarray, minutes: np.ndarray, km: np.ndarray) -> Pairs:
    order = np.lexsort((cols, rows))
    return rows[order], cols[order], minutes[order], km[order]


class Impedance:
    """Base class: travel between demand points and targets, as sparse pairs.

    Subclasses implement :meth:`pairs` (and :meth:`nearest_km`);
    :meth:`reach` applies a facility type's standards on top.
    """

    kind: str = "abstract"
    has_minutes: bool = True
    has_km: bool = True

    def describe(self) -> str:
        """One line for reports and manifests: what the impedance is built from."""
        return self.kind

    def pairs(
        self, demand: Points, targets: Points, minutes: np.ndarray | None = None, km: np.ndarray | None = None
    ) -> Pairs:
        """Pairs in reach: ``minutes[r]`` (or ``km[r]``) is demand point r's limit, NaN = none of that kind.

        A pair is kept when it is within the row's minutes limit or within
        its km limit.
        """
        raise NotImplementedError

    def nearest_km(self, demand: Points, targets: Points) -> np.ndarray:
        """Km from each demand point to its nearest target (``inf`` when none is reached)."""
        raise NotImplementedError

    def nearest_minutes(self, demand: Points, targets: Points) -> np.ndarray:
        """Travel minutes from each demand point to its quickest target (``inf``: none reached).

        NaN for impedances without minutes of their own (a straight line: its
        minutes come from a standard's speed, see
        :func:`optimizer.impedance.compare.nearest_minutes`; an OD matrix
        without a minutes column).
        """
        del targets  # no minutes to look up, whatever the targets
        return np.full(len(demand), np.nan)

    def reach_travel(
        self, urban_std: ServiceStandard, rural_std: ServiceStandard, urban: np.ndarray, demand: Points, targets: Points
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The pairs within the standard, with each pair's travel and its row's limit in the standard's unit.

        Returns ``(rows, cols, travel, limit)``: travel minutes and the
        minutes standard for a point whose standard is in minutes, km and the
        km standard otherwise. ``travel / limit`` (0 at the point, 1 at the
        edge of the standard) is what floating catchments and linear
        attendance decay read.
        """
        minutes, km = standard_limits(urban_std, rural_std, urban)
        rows, cols, t, d = self.reach(urban_std, rural_std, urban, demand, targets)
        in_minutes = np.isfinite(minutes[rows])
        return rows, cols, np.where(in_minutes, t, d), np.where(in_minutes, minutes[rows], km[rows])

    def reach(
        self, urban_std: ServiceStandard, rural_std: ServiceStandard, urban: np.ndarray, demand: Points, targets: Points
    ) -> Pairs:
        """The (demand, target) pairs within the facility type's service standard.

        This is the one place standards meet the impedance: a ``minutes``
        standard is compared with travel minutes, a ``distance_km`` standard
        with km along the network (or in the matrix).
        """
        minutes, km = standard_limits(urban_std, rural_std, urban)
        return self.pairs(
            demand, targets, minutes if np.isfinite(minutes).any() else None, km if np.isfinite(km).any() else None
        )

    @staticmethod
    def _keep(
        rows: np.ndarray, t: np.ndarray, d: np.ndarray, minutes: np.ndarray | None, km: np.ndarray | None
    ) -> np.ndarray:
        """Mask of pairs within their row's minutes or km limit."""
        keep = np.zeros(len(rows), bool)
        if minutes is not None:
            with np.errstate(invalid="ignore"):
                keep |= t <= minutes[rows] + MINUTES_TOLERANCE
        if km is not None:
            with np.errstate(invalid="ignore"):
                keep |= d <= km[rows] + KM_TOLERANCE
        return keep


class StraightLine(Impedance):
    """Straight-line distance in the projected CRS, with each standard's speed and detour factor.

    This is regionopt's classic behaviour: a ``minutes`` standard becomes the
    radius ``minutes / 60 × speed_kmh / detour_factor``
    (:meth:`~optimizer.config.ServiceStandard.radius_m`), and coverage comes
    from :func:`optimizer.distance.coverage_pairs` exactly as before.
    """

    kind = "straight_line"
    has_minutes = False

    def describe(self) -> str:
        return "straight line (each standard's speed and detour factor)"

    def pairs(
        self, demand: Points, targets: Points, minutes: np.ndarray | None = None, km: np.ndarray | None = None
    ) -> Pairs:
        if minutes is not None and np.isfinite(minutes).any():
            raise ValueError("a straight line has no travel minutes of its own; use reach() with a standard")
        radius = np.nan_to_num(np.asarray(km, dtype=float), nan=-1.0) * 1000.0 if km is not None else 0.0
        keep_rows: np.ndarray | None = None  # per-row radii: rows without a radius (NaN km) reach nothing
        if np.ndim(radius):
            keep_rows = np.asarray(radius >= 0)
            radius = np.where(keep_rows, radius, 0.0)
        rows, cols, dist = coverage_pairs(demand.xy, targets.xy, radius)
        if keep_rows is not None:
            ok = keep_rows[rows]
            rows, cols, dist = rows[ok], cols[ok], dist[ok]
        return rows, cols, np.full(len(rows), np.nan), dist / 1000.0

    def reach(
        self, urban_std: ServiceStandard, rural_std: ServiceStandard, urban: np.ndarray, demand: Points, targets: Points
    ) -> Pairs:
        urban = np.asarray(urban, dtype=bool)
        radius = np.where(urban, urban_std.radius_m(), rural_std.radius_m())
        rows, cols, dist = coverage_pairs(demand.xy, targets.xy, radius)
        km = dist / 1000.0
        # Minutes implied by the standard's own speed and detour (NaN for a km standard).
        speed = np.where(urban, urban_std.speed_kmh or np.nan, rural_std.speed_kmh or np.nan)[rows]
        detour = np.where(urban, urban_std.detour_factor, rural_std.detour_factor)[rows]
        with np.errstate(invalid="ignore"):
            minutes = km * detour / speed * 60.0
        return rows, cols, minutes, km

    def nearest_km(self, demand: Points, targets: Points) -> np.ndarray:
        if len(targets) == 0:
            return np.full(len(demand), np.inf)
        d, _ = cKDTree(targets.xy).query(demand.xy, k=1)
        return np.asarray(d, dtype=float) / 1000.0

    def reach_travel(
        self, urban_std: ServiceStandard, rural_std: ServiceStandard, urban: np.ndarray, demand: Points, targets: Points
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Pairs within the standard: km and each row's radius in km (a straight line has no minutes of its own)."""
        urban = np.asarray(urban, dtype=bool)
        rows, cols, _, km = self.reach(urban_std, rural_std, urban, demand, targets)
        radius_km = np.where(urban, urban_std.radius_m(), rural_std.radius_m()) / 1000.0
        return rows, cols, km, radius_km[rows]

    def nearest_m(self, demand: Points, targets: Points) -> np.ndarray:
        """Metres to the nearest target (the access objective's baseline)."""
        return nearest_distance(demand.xy, targets.xy)[0]
