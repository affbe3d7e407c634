"""Link admin units into one hierarchy and attach every point to its finest unit."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Geod

from ..datum import WGS84
from .columns import (
    OUTSIDE_TOLERANCE_KM,
    _closest,
    _Context,
    _first,
    _located,
    _num,
    _object_series,
    _str_series,
    _swap_hint,
    _text_values,
)


def _unit_ids(frame: pd.DataFrame, index: pd.Index) -> pd.Series:
    """``unit_id`` as text; object dtype with ``None`` while some are still to be assigned."""
    values = _text_values(frame["unit_id"]) if "unit_id" in frame else [None] * len(frame)
    if len(values) and all(v is not None for v in values):
        return _str_series(values, index)
    return _object_series(values, index)


def _check_hierarchy(ids: np.ndarray, parents: list[str | None], ctx: _Context) -> None:
    """Every parent exists and following parents always ends at a top unit."""
    known = set(ids.tolist())
    for pos, parent in enumerate(parents):
        if parent is not None and parent not in known:
            match = _closest(parent, known)
            raise ctx.error(
                f"parent_id {parent!r} is not an admin unit",
                pos=pos,
                field="parent_id",
                hint=(f"did you mean {match!r}? " if match else "")
                + "parent_id must be the unit_id of another admin unit, or empty for the top unit",
            )
    parent_of = dict(zip(ids.tolist(), parents, strict=False))
    position = {uid: pos for pos, uid in enumerate(ids.tolist())}
    done: set[str] = set()
    for start in ids.tolist():
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node is not None and node not in done:
            if node in on_path:
                cycle = path[path.index(node) :] + [node]
                raise ctx.error(
                    "admin units form a cycle: " + " → ".join(repr(u) for u in cycle),
                    pos=position[node],
                    field="parent_id",
                    hint="a unit cannot be its own ancestor; fix the parent_id of one of them "
                    "(the top unit's parent_id is empty)",
                )
            path.append(node)
            on_path.add(node)
            node = parent_of[node]
        done.update(path)


# ----------------------------------------------------------------------------- across layers
def _has_boundary(admin: gpd.GeoDataFrame) -> np.ndarray:
    return _located(admin.geometry)


def _depths(admin: gpd.GeoDataFrame) -> np.ndarray:
    """Number of ancestors of each unit (0 at the top); the hierarchy is known to be acyclic."""
    parent_of = admin["parent_id"].to_dict()
    depth: dict[str, int] = {}

    def walk(uid: str) -> int:
        chain = []
        while uid is not None and uid not in depth:
            chain.append(uid)
            uid = parent_of.get(uid)
        base = -1 if uid is None else depth[uid]
        for offset, node in enumerate(reversed(chain), start=1):
            depth[node] = base + offset
        return depth[chain[0]] if chain else depth[uid]

    return np.array([walk(uid) for uid in admin.index], dtype=np.int64)


def _nearest_finest(
    points: np.ndarray, units: np.ndarray, depth: np.ndarray, max_distance: float
) -> tuple[np.ndarray, np.ndarray]:
    """For each projected point, the nearest unit within ``max_distance`` (-1 if none) and its distance.

    Nested units share boundaries (a coastal county and its province), but
    simplified outlines of different levels never match exactly: units within
    :data:`NEAR_TIE_M` of the nearest count as equally near, and the finest wins.
    """
    n = len(points)
    found, distance = np.full(n, -1, dtype=np.int64), np.full(n, np.inf)
    if not n or not len(units):
        return found, distance
    tree = shapely.STRtree(units)
    if math.isfinite(max_distance):
        p_idx, u_idx = tree.query(points, predicate="dwithin", distance=max_distance)
    else:
        p_idx = np.repeat(np.arange(n), len(units))
        u_idx = np.tile(np.arange(len(units)), n)
    if not len(p_idx):
        return found, distance
    d = shapely.distance(points[p_idx], units[u_idx])
    best = pd.Series(d).groupby(p_idx).min()
    nearest = np.zeros(n)
    nearest[best.index.to_numpy()] = best.to_numpy()
    close = d <= nearest[p_idx] + NEAR_TIE_M
    p_idx, u_idx, d = p_idx[close], u_idx[close], d[close]
    order = np.lexsort((u_idx, d, -depth[u_idx], p_idx))
    p_sorted = p_idx[order]
    first = np.r_[True, p_sorted[1:] != p_sorted[:-1]]
    found[p_sorted[first]] = u_idx[order][first]
    distance[p_sorted[first]] = d[order][first]
    return found, distance


def _pick_finest(n: int, point_idx: np.ndarray, unit_idx: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """For each of ``n`` points, the deepest of its matching units (first listed on ties); -1 if none."""
    found = np.full(n, -1, dtype=np.int64)
    if len(point_idx):
        order = np.lexsort((unit_idx, -depth[unit_idx], point_idx))
        points, units = point_idx[order], unit_idx[order]
        first = np.r_[True, points[1:] != points[:-1]]
        found[points[first]] = units[first]
    return found


def _link_units(
    points: gpd.GeoDataFrame,
    ctx: _Context,
    admin: gpd.GeoDataFrame,
    pcrs: CRS,
    snap_distance: float,
) -> gpd.GeoDataFrame:
    """Check ``unit_id`` references and fill in the missing ones by point-in-polygon."""
    _check_inside_region(points, ctx, admin, pcrs)
    unit_ids = points["unit_id"].to_numpy(dtype=object)
    given = np.array([u is not None for u in unit_ids], dtype=bool)
    known = admin.index
    unknown = _first(given & ~pd.Index(unit_ids).isin(known))
    if unknown is not None:
        match = _closest(unit_ids[unknown], known)
        raise ctx.error(
            f"unit_id {unit_ids[unknown]!r} is not an admin unit",
            pos=unknown,
            field="unit_id",
            hint=(f"did you mean {match!r}? " if match else "")
            + "unit_id must be a unit_id of the admin units layer, or empty to assign it from the location",
        )
    if given.all():
        out = points.copy()
        out["unit_id"] = out["unit_id"].astype("str")
        return out
    with_boundary = _has_boundary(admin)
    units = admin[with_boundary]
    if units.empty:
        pos = _first(~given)
        raise ctx.error(
            "unit_id is missing and the admin units have no boundaries to find it from",
            pos=pos,
            field="unit_id",
            hint=f"give every {ctx.schema.noun} a unit_id, or give the admin units polygon boundaries",
        )
    # The finest unit containing the point: a township where townships have
    # boundaries, else its county (townships known only by name), and so on.
    depth = _depths(admin)[with_boundary]
    todo = np.flatnonzero(~given)
    geoms = points.geometry.to_numpy()[todo]
    # intersects, not within: a point exactly on a shared border goes to the first unit listed
    pt_idx, unit_idx = shapely.STRtree(units.geometry.to_numpy()).query(geoms, predicate="intersects")
    found = _pick_finest(len(todo), pt_idx, unit_idx, depth)
    lost = np.flatnonzero(found < 0)
    if len(lost):
        projected_units = units.geometry.to_crs(pcrs).to_numpy()
        projected_pts = gpd.GeoSeries(geoms[lost], crs=WGS84).to_crs(pcrs).to_numpy()
        if snap_distance > 0:
            found[lost] = _nearest_finest(projected_pts, projected_units, depth, snap_distance)[0]
            projected_pts = projected_pts[found[lost] < 0]
            lost = np.flatnonzero(found < 0)
        if len(lost):
            pos = int(todo[lost[0]])
            lon, lat = shapely.get_coordinates(geoms[lost[0]])[0]
            nearest, distance = _nearest_finest(projected_pts[:1], projected_units, depth, math.inf)
            raise ctx.error(
                f"the point ({_num(lon)}, {_num(lat)}) is not inside any admin unit "
                f"(nearest: {units.index[nearest[0]]!r}, {distance[0] / 1000:,.1f} km away)",
                pos=pos,
                field="geometry",
                raw_field=True,
                hint="fix the coordinates, give this row a unit_id, or pass snap_distance= (metres) "
                "to assign points just outside a boundary to the nearest unit",
            )
    unit_ids = unit_ids.copy()
    unit_ids[todo] = units.index.to_numpy()[found]
    out = points.copy()
    out["unit_id"] = pd.Series(unit_ids.tolist(), index=points.index, dtype="str")
    return out


# Boundaries this close (metres) to the nearest one count as equally near when
# snapping a point to a unit, so that the finest of nested units wins.
NEAR_TIE_M = 50.0


def _check_inside_region(points: gpd.GeoDataFrame, ctx: _Context, admin: gpd.GeoDataFrame, pcrs: CRS) -> None:
    """Points far from every admin unit are wrong (or have swapped coordinates)."""
    units = admin[_has_boundary(admin)]
    if units.empty or points.empty:
        return
    tolerance = OUTSIDE_TOLERANCE_KM * 1000.0
    lonlat_boxes = shapely.box(*shapely.bounds(units.geometry.to_numpy()).T)
    # segmentize: keep the boxes' edges honest after projection
    boxes = gpd.GeoSeries(lonlat_boxes, crs=WGS84).segmentize(0.05).to_crs(pcrs).to_numpy()
    tree = shapely.STRtree(boxes)
    xy = shapely.get_coordinates(points.geometry.to_numpy())

    def near(lonlat: np.ndarray) -> np.ndarray:
        inside = np.zeros(len(lonlat), dtype=bool)
        ok = (np.abs(lonlat[:, 0]) <= 180) & (np.abs(lonlat[:, 1]) <= 90)
        if ok.any():
            projected = gpd.GeoSeries(gpd.points_from_xy(lonlat[ok, 0], lonlat[ok, 1]), crs=WGS84).to_crs(pcrs)
            hit = tree.query(projected.to_numpy(), predicate="dwithin", distance=tolerance)[0]
            inside[np.flatnonzero(ok)[np.unique(hit)]] = True
        return inside

    far = ~near(xy)
    pos = _first(far)
    if pos is None:
        return
    lon, lat = xy[pos]
    if near(xy[pos : pos + 1, ::-1])[0]:
        raise ctx.error(
            f"the point ({_num(lon)}, {_num(lat)}) lies outside the region but ({_num(lat)}, {_num(lon)}) "
            "lies inside: longitude and latitude look swapped",
            pos=pos,
            field="geometry",
            raw_field=True,
            hint=_swap_hint(ctx),
        )
    # On the ellipsoid, not in the region's UTM zone, which distorts (or fails) far from it.
    lines = shapely.get_coordinates(shapely.shortest_line(shapely.Point(lon, lat), lonlat_boxes)).reshape(-1, 4)
    distance_km = float(np.min(Geod(ellps="WGS84").inv(lines[:, 0], lines[:, 1], lines[:, 2], lines[:, 3])[2])) / 1000
    raise ctx.error(
        f"the point ({_num(lon)}, {_num(lat)}) is {distance_km:,.0f} km outside the region's admin units",
        pos=pos,
        field="geometry",
        raw_field=True,
        hint="check this row's coordinates and the layer's CRS (points must lie within "
        f"{_num(OUTSIDE_TOLERANCE_KM)} km of an admin unit)",
    )
