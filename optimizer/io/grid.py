"""Gridded demand: census populations of admin-unit polygons spread over a regular grid of points.

A region whose census counts people by unit (county, district) but not where
they live inside it can still be planned on a fine demand layer:
:func:`grid_demand` puts one point at the centre of every grid cell whose
centre lies inside a unit (a unit too small to hold a cell centre gets one
point inside it) and splits each unit's census integers over its points so
that they add up to them exactly.

How the population is spread inside a unit is an assumption, and the caller
chooses it:

- without ``prior``: **uniformly** — every point of a unit gets the same share
  (each point stands for one cell of land);
- with ``prior`` (points with populations, e.g. a coarser demand layer placed
  from settlements): in proportion to a Gaussian kernel density of the prior's
  populations (bandwidth ``bandwidth_km``; pairs beyond three bandwidths are
  left out), so the fine grid keeps the coarse layer's towns and empty
  mountains. A unit that no prior point reaches is spread uniformly. The
  weights are rounded down to integers, 2**30 for the unit's largest, so the
  apportionment is exact integer arithmetic.

Shares become integers by largest-remainder (Hamilton) apportionment, unit by
unit: each point gets the floor of its quota and the residents left over go
one each to the largest remainders (ties to the earlier point). Group columns
(age groups) are apportioned the same way, each over the points in proportion
to its parent column (``population`` or an earlier group), so a nested group
(ages 5–14 within 0–14) never exceeds its parent at a point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.spatial import cKDTree

from ..datum import projected_crs as _metric_crs
from ..errors import InputError

__all__ = ["grid_demand", "largest_remainder"]

# pairs of a grid point and a prior point farther apart than this many bandwidths carry no weight
KERNEL_REACH = 3.0
# kernel weights are apportioned as integers: each unit's largest weight becomes this (30 binary digits)
WEIGHT_SCALE = 2**30


def largest_remainder(totals: np.ndarray, weights: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Split each group's integer total over its rows in proportion to integer weights (Hamilton).

    Parameters
    ----------
    totals : numpy.ndarray
        The integer total of each group (0 or more), indexed by group code.
    weights : numpy.ndarray
        One integer weight (0 or more) per row; a group whose weights are all 0
        must have total 0. The arithmetic is exact (integers throughout).
    groups : numpy.ndarray
        The group code (``0 … len(totals) - 1``) of each row.

    Returns
    -------
    numpy.ndarray
        One ``int64`` part per row: the floor of its quota, plus one for the
        rows with the largest remainders of each group (ties to the earlier
        row) until the parts sum exactly to the group's total. Each part is
        the floor or the ceiling of its quota, so a part never exceeds its
        weight when the total does not exceed the weights' sum.
    """
    groups = np.asarray(groups, dtype=np.int64)
    totals = np.asarray(totals, dtype=np.int64)
    w = np.asarray(weights, dtype=np.int64)
    n_groups = len(totals)
    wsum = np.zeros(n_groups, dtype=np.int64)
    np.add.at(wsum, groups, w)
    if ((wsum == 0) & (totals > 0)).any() or (totals < 0).any() or (w < 0).any():
        raise ValueError("largest_remainder: a positive total over weights summing to 0, or a negative value")
    if len(w) and float(totals.max(initial=0)) * float(w.max()) >= 2.0**62:
        raise ValueError("largest_remainder: totals × weights overflow 64-bit integers")
    num = totals[groups] * w
    den = np.maximum(wsum[groups], 1)
    base = num // den
    left = totals - np.bincount(groups, weights=base, minlength=n_groups).astype(np.int64)
    rows = np.arange(len(groups))
    # rank each group's rows by remainder, largest first, ties to the earlier row: within a group the
    # denominators are equal, so the integer numerators num % den compare the remainders exactly
    order = np.lexsort((rows, -(num % den), groups))
    start = np.searchsorted(groups[order], np.arange(n_groups))
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = rows - start[groups[order]]
    return (base + (rank < left[groups])).astype(np.int64)


def _shown(value: object) -> str:
    """A cell's value as a message shows it: text quoted, numbers plain (``12.5``, ``nan``)."""
    return repr(value) if isinstance(value, str) else str(value)


def _unit_error(message: str, unit: object, field: str, hint: str) -> InputError:
    """An error about one admin unit, named by its ID (the layer is built in code, so there is no file row)."""
    return InputError(f"admin units: {message}", row=str(unit), field=field, hint=hint)


def _check_units(units: gpd.GeoDataFrame, unit_id: str, columns: list[str]) -> None:
    """Columns, CRS, IDs, census integers and polygons of the admin units."""
    if not isinstance(units, gpd.GeoDataFrame):
        raise InputError(
            f"admin units must be a GeoDataFrame, got {type(units).__name__}",
            hint="read the polygons with geopandas.read_file (or regionopt's read_admin_units)",
        )
    if units.crs is None:
        raise InputError(
            "admin units have no CRS",
            field="geometry",
            hint="set it, e.g. units.set_crs('EPSG:4326') for longitude/latitude in degrees",
        )
    for column in [unit_id, *columns]:
        if column not in units.columns:
            raise InputError(
                f"admin units have no column {column!r} to grid",
                field=column,
                hint=f"give each unit its census count in a column {column!r}, or name the column that holds it "
                "(grid_demand(..., population='pop2020'))",
            )
    ids = units[unit_id]
    dup = ids[ids.duplicated()]
    if len(dup):
        raise _unit_error(
            f"unit_id {dup.iloc[0]!r} appears more than once", dup.iloc[0], unit_id, "give every unit its own unit_id"
        )
    for column in columns:
        values = pd.to_numeric(units[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise _unit_error(
                f"{column} must be a whole number of residents, 0 or more, got {_shown(units[column].iloc[pos])}",
                ids.iloc[pos],
                column,
                "grid only units with census counts (filter the layer to one level, e.g. the counties)",
            )
    geom = units.geometry
    polygonal = geom.notna() & ~geom.is_empty & geom.geom_type.isin(["Polygon", "MultiPolygon"])
    if not polygonal.all():
        pos = int(np.flatnonzero(~polygonal.to_numpy())[0])
        raise _unit_error(
            "the unit has no polygon boundary to grid",
            ids.iloc[pos],
            "geometry",
            "grid only units with polygon boundaries (filter the layer to one level, e.g. the counties)",
        )


def _check_groups(units: gpd.GeoDataFrame, unit_id: str, population: str, groups: Mapping[str, str]) -> None:
    """Every group is apportioned in proportion to ``population`` or an earlier group, and fits in it."""
    known = [population]
    for column, parent in groups.items():
        if parent not in known:
            raise InputError(
                f"group {column!r} is to be apportioned in proportion to {parent!r}, which is not "
                "the population column or an earlier group",
                field=column,
                hint=f"list groups after the column they follow, e.g. groups={{{parent!r}: {population!r}, "
                f"{column!r}: {parent!r}}}",
            )
        over = units[column].to_numpy(dtype=np.int64) > units[parent].to_numpy(dtype=np.int64)
        if over.any():
            pos = int(np.flatnonzero(over)[0])
            raise _unit_error(
                f"{column} ({int(units[column].iloc[pos]):,}) exceeds {parent} ({int(units[parent].iloc[pos]):,}), "
                "which it is apportioned within",
                units[unit_id].iloc[pos],
                column,
                "a group cannot have more residents than the column it is apportioned in proportion to; fix the counts",
            )
        known.append(column)


def _positive(value: float, name: str, example: str) -> float:
    """A finite number above 0, or a clear error naming the parameter."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise InputError(
            f"{name} must be a distance in km above 0, got {value!r}", field=name, hint=f"e.g. {name}={example}"
        )
    return number


def _cell_points(geoms: np.ndarray, size: float, origin: tuple[float, float]) -> pd.DataFrame:
    """Grid cell centres inside each polygon (row ``unit``, cell ``ix``, ``iy``), one point for a unit with none."""
    ox, oy = origin
    frames = []
    for pos, geom in enumerate(geoms):
        minx, miny, maxx, maxy = geom.bounds
        ix = np.arange(math.ceil((minx - ox) / size - 0.5), math.floor((maxx - ox) / size - 0.5) + 1)
        iy = np.arange(math.ceil((miny - oy) / size - 0.5), math.floor((maxy - oy) / size - 0.5) + 1)
        gx, gy = (a.ravel() for a in np.meshgrid(ix, iy))
        x, y = ox + (gx + 0.5) * size, oy + (gy + 0.5) * size
        shapely.prepare(geom)
        inside = shapely.contains_xy(geom, x, y) if len(x) else np.zeros(0, dtype=bool)
        if inside.any():
            frame = pd.DataFrame({"unit": pos, "ix": gx[inside], "iy": gy[inside], "x": x[inside], "y": y[inside]})
            frame["kind"] = "grid"
        else:
            # smaller than a cell (or slipping between centres): one point guaranteed inside the unit
            point = shapely.point_on_surface(geom)
            frame = pd.DataFrame(
                {
                    "unit": [pos],
                    "ix": [math.floor((point.x - ox) / size)],
                    "iy": [math.floor((point.y - oy) / size)],
                    "x": [point.x],
                    "y": [point.y],
                    "kind": ["unit_point"],
                }
            )
        frames.append(frame)
        shapely.destroy_prepared(geom)
    return pd.concat(frames, ignore_index=True)


def _check_overlap(cells: pd.DataFrame, ids: np.ndarray) -> None:
    """A cell centre inside two units means the units overlap (e.g. a city and its counties together)."""
    grid = cells[cells["kind"] == "grid"]
    dup = grid.duplicated(["ix", "iy"], keep=False)
    if dup.any():
        pair = grid[dup].sort_values(["ix", "iy", "unit"]).head(2)["unit"].to_numpy()
        raise _unit_error(
            f"the unit overlaps unit {ids[pair[1]]!r} (a grid cell centre lies inside both)",
            ids[pair[0]],
            "geometry",
            "grid one level of units whose polygons do not overlap (e.g. only the counties, not the cities too)",
        )


def _prior_weights(
    xy: np.ndarray, prior: gpd.GeoDataFrame, prior_population: str, crs: CRS, bandwidth_m: float
) -> np.ndarray:
    """Gaussian kernel density of the prior points' populations at each grid point (pairs within 3 bandwidths)."""
    if not isinstance(prior, gpd.GeoDataFrame) or prior.crs is None:
        raise InputError(
            "prior points must be a GeoDataFrame with a CRS",
            field="prior",
            hint="pass the existing demand layer as read, e.g. geopandas.read_file(path, layer='demand')",
        )
    if prior_population not in prior.columns:
        raise InputError(
            f"prior points have no column {prior_population!r}",
            field="prior_population",
            hint="pass prior_population= naming the column that holds the prior points' residents",
        )
    pop = pd.to_numeric(prior[prior_population], errors="coerce").to_numpy(dtype=float)
    if not (np.isfinite(pop) & (pop >= 0)).all():
        raise InputError(
            f"prior points: {prior_population} must be a number of residents, 0 or more, at every point",
            field="prior_population",
            hint="fill in or remove the points without a population",
        )
    pts = prior.geometry.to_crs(crs)
    prior_xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
    pairs = cKDTree(xy).sparse_distance_matrix(cKDTree(prior_xy), KERNEL_REACH * bandwidth_m, output_type="ndarray")
    kernel = np.exp(-0.5 * (pairs["v"] / bandwidth_m) ** 2) * pop[pairs["j"]]
    return np.bincount(pairs["i"], weights=kernel, minlength=len(xy))


def _integer_weights(kernel: np.ndarray, unit: np.ndarray, n_units: int) -> np.ndarray:
    """Kernel weights as integers, 2**30 for each unit's largest; a unit no prior point reaches: all 1 (uniform)."""
    top = np.zeros(n_units)
    np.maximum.at(top, unit, kernel)
    scaled = np.floor(kernel / np.where(top > 0, top, 1.0)[unit] * WEIGHT_SCALE).astype(np.int64)
    return np.where(top[unit] > 0, scaled, 1)


def grid_demand(
    units: gpd.GeoDataFrame,
    cell_km: float,
    *,
    projected_crs: str | int | CRS | None = None,
    unit_id: str = "unit_id",
    population: str = "population",
    groups: Mapping[str, str] | None = None,
    prior: gpd.GeoDataFrame | None = None,
    prior_population: str = "population",
    bandwidth_km: float | None = None,
    origin_m: tuple[float, float] = (0.0, 0.0),
    id_prefix: str = "g",
) -> gpd.GeoDataFrame:
    """A demand layer on a regular grid, with each unit's census counts apportioned exactly.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        One level of admin units (polygons that do not overlap, e.g. the
        counties), with a CRS, a unit ID column and census counts.
    cell_km : float
        The cell size in km, measured in ``projected_crs``.
    projected_crs : str, int or pyproj.CRS, optional
        The projected CRS the cells are square in; by default the UTM zone of
        the units' centre. A geographic CRS is refused (its units are degrees).
    unit_id, population : str
        The columns holding the unit ID and the census population (whole numbers).
    groups : mapping of str to str, optional
        Further count columns to apportion (age groups), each mapped to the
        column its point values are proportional to: ``population`` or an
        earlier group, e.g. ``{"pop_0_14": "population", "pop_school_age": "pop_0_14"}``.
    prior : geopandas.GeoDataFrame, optional
        Points with populations whose kernel density weights the grid points;
        without it the population is uniform within each unit.
    prior_population : str
        The prior's population column.
    bandwidth_km : float, optional
        The kernel's standard deviation in km (default: ``1.5 × cell_km``).
    origin_m : tuple of float
        A cell corner in ``projected_crs`` (metres); cells are aligned to it.
    id_prefix : str
        Start of every ``demand_id``: ``<prefix>-<unit_id>-<column>-<row>``
        (cell indices from the origin); a unit's single point ends in ``-u``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``demand_id``, ``unit_id``, ``kind`` (``grid``: a cell centre;
        ``unit_point``: the one point of a unit without a cell centre),
        ``population`` and the group columns (``int64``), and Point geometry in
        the units' CRS. ``attrs["grid_crs"]`` is the projected CRS of the cells
        (WKT) and ``attrs["cell_km"]`` the cell size. The counts of every unit
        sum exactly to its census integers; a point may get 0.

    Raises
    ------
    InputError
        For units without a CRS, a missing or non-integer count column,
        duplicate IDs, units without a polygon, overlapping units, a
        geographic ``projected_crs``, a cell size or bandwidth that is not a
        distance above 0, or groups that do not nest.
    """
    groups = dict(groups or {})
    cell = _positive(cell_km, "cell_km", "1.0")
    _check_units(units, unit_id, [population, *groups])
    _check_groups(units, unit_id, population, groups)
    crs = _metric_crs(units, projected_crs)
    metres = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    size = cell * 1000.0 / metres
    geoms = units.geometry.to_crs(crs).to_numpy()
    ids = units[unit_id].to_numpy()
    cells = _cell_points(geoms, size, origin_m)
    _check_overlap(cells, ids)
    unit = cells["unit"].to_numpy()
    xy = cells[["x", "y"]].to_numpy()
    if prior is None:
        weights = np.ones(len(cells), dtype=np.int64)
    else:
        bandwidth = _positive(1.5 * cell if bandwidth_km is None else bandwidth_km, "bandwidth_km", "1.5")
        kernel = _prior_weights(xy, prior, prior_population, crs, bandwidth * 1000.0 / metres)
        weights = _integer_weights(kernel, unit, len(units))
    out = pd.DataFrame(
        {
            "demand_id": [
                f"{id_prefix}-{ids[u]}-{ix}-{iy}" if kind == "grid" else f"{id_prefix}-{ids[u]}-u"
                for u, ix, iy, kind in zip(unit, cells["ix"], cells["iy"], cells["kind"], strict=True)
            ],
            "unit_id": ids[unit],
            "kind": cells["kind"].to_numpy(),
        }
    )
    out[population] = largest_remainder(units[population].to_numpy(dtype=np.int64), weights, unit)
    for column, parent in groups.items():
        out[column] = largest_remainder(units[column].to_numpy(dtype=np.int64), out[parent].to_numpy(), unit)
    points = gpd.GeoSeries(shapely.points(xy), crs=crs).to_crs(units.crs)
    gdf = gpd.GeoDataFrame(out, geometry=points.to_numpy(), crs=units.crs)
    gdf.attrs["grid_crs"] = crs.to_wkt()
    gdf.attrs["cell_km"] = cell
    return gdf
