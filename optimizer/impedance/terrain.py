"""Terrain-aware straight line: each demand point's reach shrinks with the local relief around it.

Where no road data exists (the shipped Zhejiang region) a straight-line
radius with one detour factor gives a mountain township in 景宁 the same
reach as a plain one in 嘉兴. This impedance keeps the straight line but
scales each demand point's radius by two factors read from a relief grid:

* ``detour`` (≥ 1): road km per straight-line km grows on rugged terrain,
  where roads follow valleys and contours (the detour index, Rodrigue, *The
  Geography of Transport Systems*, "Topography and route selection");
  it applies to every standard, minutes or km;
* ``speed`` (≤ 1): mountain roads are slower than plain roads of the same
  class; it applies to standards in minutes only.

Both move linearly with the local relief ``r`` (elevation range in a window
of grid cells around the point, sea clipped to 0 m) from 1 at ``plain_relief_m``
to ``mountain_detour`` and ``mountain_speed`` at ``mountain_relief_m`` and
stay there beyond. The radius of a standard at demand point i is
``standard.radius_m() × speed_i / detour_i`` (minutes) or
``standard.radius_m() / detour_i`` (km). The calibration and its sources
are in geodata/README.md ("Terrain-aware impedance") and docs/scenario.md.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config.schema import ImpedanceSpec, ServiceStandard
from ..errors import InputError
from .base import Pairs, Points, StraightLine
from .straight_line import coverage_pairs

__all__ = [
    "ReliefGrid",
    "read_relief",
    "local_relief",
    "terrain_factors",
    "TerrainImpedance",
    "terrain_impedance",
]


@dataclass(frozen=True)
class ReliefGrid:
    """Elevation on a regular lon/lat grid (degrees, WGS-84; metres above sea level, sea negative).

    ``elevation[i, j]`` is the cell centred at ``(lon[j], lat[i])``; both
    axes ascend.
    """

    lon: np.ndarray
    lat: np.ndarray
    elevation: np.ndarray
    source: str = ""

    def cell_of(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row and column of the nearest cell centre, and whether the point lies inside the grid."""
        half_x = (self.lon[-1] - self.lon[0]) / (len(self.lon) - 1) / 2 if len(self.lon) > 1 else 0.5
        half_y = (self.lat[-1] - self.lat[0]) / (len(self.lat) - 1) / 2 if len(self.lat) > 1 else 0.5
        inside = (
            (lon >= self.lon[0] - half_x)
            & (lon <= self.lon[-1] + half_x)
            & (lat >= self.lat[0] - half_y)
            & (lat <= self.lat[-1] + half_y)
        )
        col = np.clip(np.searchsorted(self.lon, lon), 1, len(self.lon) - 1) if len(self.lon) > 1 else np.zeros(len(lon))
        row = np.clip(np.searchsorted(self.lat, lat), 1, len(self.lat) - 1) if len(self.lat) > 1 else np.zeros(len(lat))
        col = col.astype(np.int64)
        row = row.astype(np.int64)
        if len(self.lon) > 1:
            col = np.where(np.abs(self.lon[col - 1] - lon) <= np.abs(self.lon[col] - lon), col - 1, col)
        if len(self.lat) > 1:
            row = np.where(np.abs(self.lat[row - 1] - lat) <= np.abs(self.lat[row] - lat), row - 1, row)
        return row, col, inside


def read_relief(path: str | Path) -> ReliefGrid:
    """Read a relief grid: an ``.npz`` with arrays ``lon``, ``lat`` (ascending degrees) and ``elevation`` (m).

    ``geodata/zhejiang/etopo5_zhejiang.npz`` (ETOPO5 cropped to Zhejiang by
    ``geodata/build_zhejiang.py --relief``) is one.
    """
    path = Path(path)
    hint = "give a .npz with arrays lon, lat and elevation, as geodata/build_zhejiang.py --relief writes"
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except FileNotFoundError:
        raise InputError(
            "relief grid file not found",
            file=path,
            field="impedance.path",
            hint="check the path (relative paths are read from the scenario file's folder)",
        ) from None
    except (OSError, ValueError, zipfile.BadZipFile):
        raise InputError(
            "cannot read this file as an .npz relief grid", file=path, field="impedance.path", hint=hint
        ) from None
    missing = [k for k in ("lon", "lat", "elevation") if k not in arrays]
    if missing:
        raise InputError(f"relief grid has no array {missing[0]!r}", file=path, field=missing[0], hint=hint)
    lon = arrays["lon"].astype(float).ravel()
    lat = arrays["lat"].astype(float).ravel()
    elevation = arrays["elevation"].astype(float)
    if elevation.shape != (len(lat), len(lon)):
        raise InputError(
            f"relief grid elevation has shape {elevation.shape}, expected (len(lat), len(lon)) = "
            f"({len(lat)}, {len(lon)})",
            file=path,
            field="elevation",
            hint=hint,
        )
    if (
        len(lon) == 0
        or len(lat) == 0
        or (np.diff(lon) <= 0).any()
        or (np.diff(lat) <= 0).any()
        or not np.isfinite(elevation).all()
    ):
        raise InputError(
            "relief grid needs ascending lon and lat and a finite elevation in every cell", file=path, hint=hint
        )
    return ReliefGrid(lon, lat, elevation, str(path))


def local_relief(grid: ReliefGrid, window_cells: int = 3) -> np.ndarray:
    """Elevation range (max − min, metres) in the ``window_cells`` × ``window_cells`` window around each cell.

    Sea cells count as 0 m, so a coast does not read as a cliff. Windows are
    cut at the grid's edge.
    """
    if window_cells < 1 or window_cells % 2 == 0:
        raise ValueError("window_cells must be an odd number >= 1")
    z = np.maximum(grid.elevation, 0.0)
    k = window_cells // 2
    padded_hi = np.pad(z, k, mode="constant", constant_values=-np.inf)
    padded_lo = np.pad(z, k, mode="constant", constant_values=np.inf)
    hi = np.full(z.shape, -np.inf)
    lo = np.full(z.shape, np.inf)
    rows, cols = z.shape
    for di in range(window_cells):
        for dj in range(window_cells):
            hi = np.maximum(hi, padded_hi[di : di + rows, dj : dj + cols])
            lo = np.minimum(lo, padded_lo[di : di + rows, dj : dj + cols])
    return hi - lo


def terrain_factors(
    relief_m: np.ndarray,
    *,
    plain_relief_m: float = 30.0,
    mountain_relief_m: float = 500.0,
    mountain_detour: float = 1.25,
    mountain_speed: float = 0.75,
) -> tuple[np.ndarray, np.ndarray]:
    """Detour multiplier (≥ 1) and speed multiplier (≤ 1) for each local relief.

    Both are linear in the relief between ``plain_relief_m`` (factor 1) and
    ``mountain_relief_m`` (``mountain_detour``, ``mountain_speed``) and
    constant outside that range.
    """
    share = np.clip((np.asarray(relief_m, float) - plain_relief_m) / (mountain_relief_m - plain_relief_m), 0.0, 1.0)
    return 1.0 + share * (mountain_detour - 1.0), 1.0 + share * (mountain_speed - 1.0)


class TerrainImpedance(StraightLine):
    """Straight line whose radius at each demand point is scaled by the local terrain.

    Parameters
    ----------
    demand_ids
        The IDs of the demand points the factors belong to (the scenario's
        demand layer, in order).
    detour, speed
        Per demand point: the detour multiplier (≥ 1, every standard) and the
        speed multiplier (≤ 1, standards in minutes).
    description
        One line for reports and manifests.
    relief
        Per demand point: the local relief (metres) the factors came from, if known.

    Km are terrain-adjusted: straight-line km × ``detour_i`` (pairs, the
    km limits of :meth:`pairs`, nearest km, and so the ``access`` and
    ``attendance`` objectives); on flat ground (factor 1) they equal the
    straight line's. Minutes are those the standard's speed and detour imply,
    with both terrain factors applied.
    """

    kind = "terrain"

    def __init__(
        self,
        demand_ids: np.ndarray,
        detour: np.ndarray,
        speed: np.ndarray,
        description: str = "",
        relief: np.ndarray | None = None,
    ) -> None:
        self.demand_ids = np.asarray(demand_ids, dtype=object).astype(str)
        self.detour = np.asarray(detour, dtype=float)
        self.speed = np.asarray(speed, dtype=float)
        if (self.detour < 1.0).any() or (self.speed <= 0.0).any() or (self.speed > 1.0).any():
            raise ValueError("terrain factors need detour >= 1 and 0 < speed <= 1")
        self.description = description or "terrain-adjusted straight line"
        self.relief = None if relief is None else np.asarray(relief, dtype=float)

    def describe(self) -> str:
        return self.description

    def factors_for(self, demand: Points) -> tuple[np.ndarray, np.ndarray]:
        """Detour and speed multipliers of ``demand``'s points (matched by ID to the points they were built for)."""
        if len(demand) == len(self.demand_ids) and np.array_equal(demand.ids, self.demand_ids):
            return self.detour, self.speed
        pos = {d: i for i, d in enumerate(self.demand_ids)}
        index = np.array([pos.get(d, -1) for d in demand.ids], dtype=np.int64)
        if (index < 0).any():
            raise ValueError(f"demand point {demand.ids[index < 0][0]!r} has no terrain factor")
        return self.detour[index], self.speed[index]

    def radii_m(
        self, std_urban: ServiceStandard, std_rural: ServiceStandard, urban: np.ndarray, demand: Points
    ) -> np.ndarray:
        """Each demand point's straight-line radius (metres) under its standard, terrain applied."""
        urban = np.asarray(urban, dtype=bool)
        detour, speed = self.factors_for(demand)
        radius = np.where(urban, std_urban.radius_m(), std_rural.radius_m())
        in_minutes = np.where(urban, std_urban.minutes is not None, std_rural.minutes is not None)
        return radius * np.where(in_minutes, speed, 1.0) / detour

    def reach(
        self, urban_std: ServiceStandard, rural_std: ServiceStandard, urban: np.ndarray, demand: Points, targets: Points
    ) -> Pairs:
        urban = np.asarray(urban, dtype=bool)
        radius = self.radii_m(urban_std, rural_std, urban, demand)
        rows, cols, dist = coverage_pairs(demand.xy, targets.xy, radius)
        detour, speed = self.factors_for(demand)
        km = dist / 1000.0 * detour[rows]  # terrain-adjusted km
        std_speed = np.where(urban, urban_std.speed_kmh or np.nan, rural_std.speed_kmh or np.nan)[rows]
        std_detour = np.where(urban, urban_std.detour_factor, rural_std.detour_factor)[rows]
        with np.errstate(invalid="ignore"):
            minutes = km * std_detour / (std_speed * speed[rows]) * 60.0
        return rows, cols, minutes, km

    def pairs(
        self, demand: Points, targets: Points, minutes: np.ndarray | None = None, km: np.ndarray | None = None
    ) -> Pairs:
        """Pairs within each row's km limit, in terrain-adjusted km (straight km × ``detour_i``)."""
        detour, _ = self.factors_for(demand)
        limits = None if km is None else np.asarray(km, dtype=float) / detour
        rows, cols, t, d = super().pairs(demand, targets, minutes, limits)
        return rows, cols, t, d * detour[rows]

    def nearest_km(self, demand: Points, targets: Points) -> np.ndarray:
        """Terrain-adjusted km to the nearest target (the detour belongs to the demand point, so it is the nearest)."""
        return super().nearest_km(demand, targets) * self.factors_for(demand)[0]

    def reach_travel(
        self, urban_std: ServiceStandard, rural_std: ServiceStandard, urban: np.ndarray, demand: Points, targets: Points
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Pairs within the standard: terrain-adjusted km and each row's terrain-adjusted radius in km."""
        rows, cols, _, km = self.reach(urban_std, rural_std, urban, demand, targets)
        detour, _ = self.factors_for(demand)
        radius_km = self.radii_m(urban_std, rural_std, urban, demand) * detour / 1000.0
        return rows, cols, km, radius_km[rows]


def terrain_impedance(spec: ImpedanceSpec, demand_lonlat: np.ndarray, demand_ids: np.ndarray) -> TerrainImpedance:
    """Build the terrain impedance of ``spec`` for demand points at ``demand_lonlat`` (degrees, WGS-84).

    Every demand point must lie inside the relief grid: a point outside has
    no terrain to read, and silently using factor 1 would hide it.
    """
    if spec.path is None:  # the schema requires a path for every kind but straight_line
        raise ValueError("the terrain impedance needs spec.path: the relief grid")
    path = Path(spec.path)
    grid = read_relief(path)
    relief = local_relief(grid, spec.relief_window_cells)
    lonlat = np.asarray(demand_lonlat, dtype=float).reshape(-1, 2)
    row, col, inside = grid.cell_of(lonlat[:, 0], lonlat[:, 1])
    if not inside.all():
        bad = int(np.flatnonzero(~inside)[0])
        raise InputError(
            f"demand point {str(demand_ids[bad])!r} at lon {lonlat[bad, 0]:.4f}, lat {lonlat[bad, 1]:.4f} lies "
            f"outside the relief grid (lon {grid.lon[0]:.3f} to {grid.lon[-1]:.3f}, lat {grid.lat[0]:.3f} to "
            f"{grid.lat[-1]:.3f})",
            file=path,
            field="impedance.path",
            hint="use a relief grid that covers the whole region, or impedance kind straight_line",
        )
    detour, speed = terrain_factors(
        relief[row, col],
        plain_relief_m=spec.plain_relief_m,
        mountain_relief_m=spec.mountain_relief_m,
        mountain_detour=spec.mountain_detour,
        mountain_speed=spec.mountain_speed,
    )
    description = (
        f"terrain-adjusted straight line: local relief ({spec.relief_window_cells}×{spec.relief_window_cells} cells "
        f"of {path.name}) from {spec.plain_relief_m:g} m to {spec.mountain_relief_m:g} m raises the "
        f"detour factor ×1 to ×{spec.mountain_detour:g} and lowers speed ×1 to ×{spec.mountain_speed:g} "
        "(an assumption; geodata/README.md)"
    )
    return TerrainImpedance(demand_ids, detour, speed, description, relief=relief[row, col])
