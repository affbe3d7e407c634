"""Validation of a layer's geometry and coordinates: CRS, degrees, WGS-84, inside the region."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ..datum import WGS84
from .columns import (
    _apply_columns,
    _check_unique_columns,
    _Context,
    _count_column,
    _first,
    _flags,
    _has_geometry,
    _ids,
    _labels,
    _located,
    _num,
    _object_series,
    _require_columns,
    _str_series,
    _swap_hint,
)
from .files import _apply_crs, _gdal_reason, _table_to_gdf
from .hierarchy import _check_hierarchy, _unit_ids


# ----------------------------------------------------------------------------- geometry
def _check_geometry(gdf: gpd.GeoDataFrame, ctx: _Context) -> gpd.GeoSeries:
    """Geometry types and validity; 2-D; admin units without a boundary become empty polygons."""
    schema = ctx.schema
    geom = gdf.geometry
    absent = ~_located(geom)
    if schema.points:
        pos = _first(absent)
        if pos is not None:
            where = "longitude/latitude columns" if ctx.table else "Point geometry"
            raise ctx.error(
                f"{schema.noun} has no location",
                pos=pos,
                field="geometry",
                raw_field=True,
                hint=f"give every {schema.noun} a location ({where}) or remove the row",
            )
        allowed: tuple[str, ...] = ("Point",)
        hint = "convert the layer to points first, e.g. GeoSeries.representative_point() or QGIS 'Centroids'"
    else:
        allowed = ("Polygon", "MultiPolygon")
        hint = "admin units need polygon boundaries (or none at all, for units known only by name)"
    types = geom.geom_type.to_numpy()
    wrong = _first(~absent & ~np.isin(types, allowed))
    if wrong is not None:
        must = "points" if schema.points else "polygons or multipolygons"
        raise ctx.error(
            f"geometry is a {types[wrong]}, but {schema.plural} must be {must}",
            pos=wrong,
            field="geometry",
            raw_field=True,
            hint=hint,
        )
    flat = shapely.force_2d(geom.to_numpy())
    if schema.points:
        xy = shapely.get_coordinates(flat)
        bad = _first(~np.isfinite(xy).all(axis=1))
        if bad is not None:
            raise ctx.error(
                "the point's coordinates are not finite numbers",
                pos=bad,
                field="geometry",
                raw_field=True,
                hint="fix the coordinates of this row",
            )
    else:
        valid = shapely.is_valid(flat) | absent
        bad = _first(~valid)
        if bad is not None:
            raise ctx.error(
                f"geometry is invalid ({shapely.is_valid_reason(flat[bad])})",
                pos=bad,
                field="geometry",
                raw_field=True,
                hint="repair it in your GIS (QGIS: Vector ▸ Geometry Tools ▸ Fix Geometries) "
                "or with GeoSeries.make_valid(), then check the result",
            )
        flat = np.where(absent, shapely.Polygon(), flat)
    return gpd.GeoSeries(flat, index=gdf.index, crs=gdf.crs)


def _check_degrees(geom: gpd.GeoSeries, ctx: _Context) -> None:
    """In a geographic CRS, coordinates must be real longitudes and latitudes."""
    if geom.crs is None or not geom.crs.is_geographic or len(geom) == 0:
        return
    minx, miny, maxx, maxy = shapely.bounds(geom.to_numpy()).T  # NaN for empty geometries
    with np.errstate(invalid="ignore"):
        lon_bad = (minx < -180) | (maxx > 180)
        lat_bad = (miny < -90) | (maxy > 90)
        lon_fits_lat = (minx >= -90) & (maxx <= 90)
    pos = _first(lon_bad | lat_bad)
    if pos is None:
        return
    lon = minx[pos] if minx[pos] < -180 or not lon_bad[pos] else maxx[pos]
    lat = miny[pos] if miny[pos] < -90 or not lat_bad[pos] else maxy[pos]
    lon_field, lat_field = ctx.lonlat if ctx.lonlat is not None else ("geometry", "geometry")
    if lat_bad[pos] and not lon_bad[pos] and lon_fits_lat[pos]:
        raise ctx.error(
            f"latitude {_num(lat)} is outside [-90, 90] but longitude {_num(lon)} would be a valid latitude: "
            "longitude and latitude look swapped",
            pos=pos,
            field=lat_field,
            raw_field=True,
            hint=_swap_hint(ctx),
        )
    if ctx.table:
        hint = "if these are projected coordinates (metres), pass their CRS as crs=, e.g. crs='EPSG:32650'"
    else:
        hint = "the layer's CRS is wrong: set the CRS the coordinates are really in (QGIS: Layer ▸ Set CRS)"
    if lon_bad[pos]:
        message, column = f"longitude {_num(lon)} is outside [-180, 180]", lon_field
    else:
        message, column = f"latitude {_num(lat)} is outside [-90, 90]", lat_field
    raise ctx.error(f"{message} in {geom.crs.to_string()}", pos=pos, field=column, raw_field=True, hint=hint)


def _to_wgs84(geom: gpd.GeoSeries, ctx: _Context) -> gpd.GeoSeries:
    if geom.crs.equals(WGS84, ignore_axis_order=True):
        return geom.set_crs(WGS84, allow_override=True)
    source = geom.crs.to_string()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = geom.to_crs(WGS84)
    except Exception as exc:  # pyproj: no transformation exists (e.g. a local engineering CRS)
        raise ctx.error(
            f"coordinates cannot be converted from {source} to longitude/latitude ({_gdal_reason(exc)})",
            hint="set the layer's real CRS, e.g. an EPSG code, in your GIS or with crs=",
        ) from exc
    bounds = shapely.bounds(out.to_numpy())
    present = _located(out)
    with np.errstate(invalid="ignore"):
        broken = present & (
            ~np.isfinite(bounds).all(axis=1)
            | (bounds[:, 0] < -180)
            | (bounds[:, 2] > 180)
            | (bounds[:, 1] < -90)
            | (bounds[:, 3] > 90)
        )
    pos = _first(broken)
    if pos is not None:
        raise ctx.error(
            f"coordinates cannot be converted from {source} to longitude/latitude",
            pos=pos,
            field="geometry",
            raw_field=True,
            hint="the coordinates are outside the area of that CRS; check that the CRS is the right one",
        )
    return out


# ----------------------------------------------------------------------------- one layer
def _normalize(
    frame: pd.DataFrame,
    ctx: _Context,
    *,
    columns: Mapping[str, str] | None = None,
    crs: CRS | None = None,
    lon: str | None = None,
    lat: str | None = None,
) -> gpd.GeoDataFrame:
    """Check one layer on its own and return it in the canonical schema."""
    schema = ctx.schema
    if isinstance(frame, pd.DataFrame):
        _check_unique_columns(frame.columns, ctx=ctx)
    if not isinstance(frame, gpd.GeoDataFrame):
        if not isinstance(frame, pd.DataFrame):
            raise ctx.error(
                f"expected a file path or a GeoDataFrame, got {type(frame).__name__}",
                hint="pass a path such as 'data/demand.gpkg', or a GeoDataFrame",
            )
        ctx.table = True
        frame = _table_to_gdf(frame.copy(), ctx, crs=crs, lon=lon, lat=lat, columns=columns)
    elif ctx.file is None:
        if not _has_geometry(frame):
            frame = gpd.GeoDataFrame(pd.DataFrame(frame), geometry=[None] * len(frame), crs=frame.crs)
        if frame.crs is None and _located(frame.geometry).any():
            raise ctx.error(
                "the GeoDataFrame has no CRS",
                hint="set it first, e.g. gdf.set_crs('EPSG:4326') for longitude/latitude",
            )
        frame = _apply_crs(frame.copy(), ctx, None)
    frame = _apply_columns(frame, columns, ctx)
    if len(frame) == 0 and schema.kind != "facilities":
        raise ctx.error(
            f"there are no {schema.plural}",
            hint=f"the layer is empty; give at least one {schema.noun} (or check the layer name)",
        )
    _require_columns(frame, ctx)
    ids = _ids(frame, ctx)
    ctx.ids = ids
    index = pd.Index(ids.tolist(), name=schema.id, dtype="str")
    frame = frame.set_axis(index, axis=0)

    data: dict[str, Any] = {}
    if schema.kind == "admin_units":
        levels = _labels(
            frame,
            "level",
            ctx,
            required=True,
            hint="give every admin unit its level, e.g. province, prefecture, county or township",
        )
        names = _labels(frame, "name", ctx, required=False, hint="") if "name" in frame else [None] * len(frame)
        names = [n if n is not None else uid for n, uid in zip(names, ids, strict=False)]
        names_en = (
            _labels(frame, "name_en", ctx, required=False, hint="") if "name_en" in frame else [None] * len(frame)
        )
        names_en = [e if e is not None else n for e, n in zip(names_en, names, strict=False)]
        parents: list[str | None] = (
            _labels(frame, "parent_id", ctx, required=False, hint="") if "parent_id" in frame else [None] * len(frame)
        )
        data["name"] = _str_series(names, index)
        data["name_en"] = _str_series(names_en, index)
        data["level"] = _str_series(levels, index)
        data["parent_id"] = _object_series(parents, index)
        _check_hierarchy(ids, parents, ctx)
    elif schema.kind == "demand":
        data["unit_id"] = _unit_ids(frame, index)
        population = _count_column(frame, "population", ctx, label="population", what="the number of residents")
        data["population"] = population
        for column in [c for c in frame.columns if str(c).startswith("pop_")]:
            group = _count_column(frame, column, ctx, label=column, what=f"the {column[4:]} population")
            over = _first(group.to_numpy(dtype=float) > population.to_numpy(dtype=float) * (1 + 1e-9) + 1e-9)
            if over is not None:
                raise ctx.error(
                    f"{column} ({_num(group.iloc[over])}) is larger than population ({_num(population.iloc[over])})",
                    pos=over,
                    field=column,
                    hint="a population group cannot outnumber all residents; check both columns",
                )
            data[column] = group
        data["urban"] = pd.Series(_flags(frame, "urban", ctx) if "urban" in frame else False, index=index, dtype=bool)
    elif schema.kind == "facilities":
        data["facility_type"] = _str_series(
            _labels(
                frame,
                "facility_type",
                ctx,
                required=True,
                hint="give every facility its type, e.g. hospital, school or culture",
            ),
            index,
        )
        data["unit_id"] = _unit_ids(frame, index)
        if "capacity" in frame:
            capacity = _count_column(frame, "capacity", ctx, label="capacity", what="the capacity", allow_missing=True)
        else:
            capacity = pd.Series(np.nan, index=index)
        data["capacity"] = capacity
        names = _labels(frame, "name", ctx, required=False, hint="") if "name" in frame else [None] * len(frame)
        data["name"] = _str_series(names, index)
        sources = _labels(frame, "source", ctx, required=False, hint="") if "source" in frame else [None] * len(frame)
        data["source"] = _str_series([s if s is not None else "user" for s in sources], index)
    else:  # candidates
        data["unit_id"] = _unit_ids(frame, index)
        kinds = _labels(frame, "kind", ctx, required=False, hint="") if "kind" in frame else [None] * len(frame)
        data["kind"] = _str_series([k if k is not None else "site" for k in kinds], index)

    geometry = _check_geometry(frame, ctx)
    _check_degrees(geometry, ctx)
    geometry = _to_wgs84(geometry, ctx)

    canonical = set(schema.names) | set(data) | {frame.geometry.name}
    extras = [c for c in frame.columns if c not in canonical]
    out = pd.DataFrame(data, index=index)
    for column in extras:
        out[column] = frame[column]
    return gpd.GeoDataFrame(out, geometry=geometry.rename("geometry"), crs=WGS84)
