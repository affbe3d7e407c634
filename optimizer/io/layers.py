"""Read a region's four layers from files, validate them, and build a :class:`Region`.

Any region can be planned, not only the shipped one: give the admin units,
the demand points, the existing facilities and the candidate sites as files
(GeoPackage, GeoJSON, Shapefile, FlatGeobuf or anything else GDAL reads,
GeoParquet, or CSV with longitude/latitude columns) or as GeoDataFrames built
in code. Everything is checked at this boundary, so the optimisation code can
trust its input: every problem becomes an :class:`~optimizer.errors.InputError`
naming the file, the row (1-based data row; for data built in code, the ID)
and the column, and saying what to do about it. Nothing is repaired silently.

What comes out is the canonical schema of :mod:`optimizer.region`: one
GeoDataFrame per layer in WGS-84 (EPSG:4326), indexed by its ID column as
strings. The column-by-column reference is ``docs/data-format.md``; every
error is listed in ``docs/errors.md``.

Examples
--------
>>> region = load_region(
...     "Lishui",
...     admin_units="lishui.gpkg",            # layer "admin_units" picked by name
...     demand={"path": "grid.csv", "columns": {"population": "POP2020"}},
...     facilities="lishui.gpkg",
...     candidates={"path": "sites.geojson"},
... )  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from os import PathLike
from typing import Any, Protocol

import geopandas as gpd
import pandas as pd
from pyproj import CRS
from pyproj.exceptions import CRSError

from ..datum import WGS84
from ..datum import projected_crs as _projected_crs
from ..errors import InputError
from .columns import LAYERS, SCHEMAS, _closest, _Context, _located
from .files import LayerSource, PathType, _read_source
from .hierarchy import _has_boundary, _link_units
from .validate import _normalize


def _empty_facilities() -> gpd.GeoDataFrame:
    index = pd.Index([], name="facility_id", dtype="str")
    data = {
        "facility_type": pd.Series([], index=index, dtype="str"),
        "unit_id": pd.Series([], index=index, dtype="str"),
        "capacity": pd.Series([], index=index, dtype="float64"),
        "name": pd.Series([], index=index, dtype="str"),
        "source": pd.Series([], index=index, dtype="str"),
    }
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], index=index, crs=WGS84), crs=WGS84)


def _candidates_from_demand(demand: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    index = pd.Index(demand.index.tolist(), name="site_id", dtype="str")
    data = {
        "unit_id": pd.Series(demand["unit_id"].to_numpy(), index=index, dtype="str"),
        "kind": pd.Series("demand_point", index=index, dtype="str"),
    }
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(demand.geometry.to_numpy(), index=index, crs=WGS84), crs=WGS84)


def _region_crs(admin: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, crs: Any) -> CRS:
    """The region's metric CRS: ``crs`` if given, else the UTM zone of the boundaries (or points)."""
    basis = admin if _has_boundary(admin).any() else demand
    try:
        return _projected_crs(basis[_located(basis.geometry)], crs)
    except CRSError as exc:
        raise InputError(
            f"projected_crs={crs!r} is not a coordinate reference system",
            field="projected_crs",
            hint="give an EPSG code of a projected CRS, e.g. 'EPSG:32650' (UTM 50N)",
        ) from exc
    except RuntimeError as exc:  # estimate_utm_crs: no UTM zone fits (e.g. near a pole)
        raise InputError(
            f"cannot choose a projected CRS for the region ({exc})",
            field="projected_crs",
            hint="pass projected_crs= a metric CRS that covers the region",
        ) from exc


def _snap(snap_distance: float) -> float:
    try:
        value = float(snap_distance)
    except (TypeError, ValueError):
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        raise InputError(
            f"snap_distance must be a distance in metres, 0 or more, got {snap_distance!r}",
            field="snap_distance",
            hint="e.g. snap_distance=500 assigns points up to 500 m outside a boundary to the nearest unit",
        )
    return value


def _assemble(
    name: str,
    layers: dict[str, tuple[gpd.GeoDataFrame, _Context] | None],
    *,
    projected_crs: Any,
    snap_distance: float,
) -> dict[str, Any]:
    admin_layer, demand_layer = layers["admin_units"], layers["demand"]
    assert admin_layer is not None and demand_layer is not None  # the two required layers are always given
    admin, _ = admin_layer
    demand, demand_ctx = demand_layer
    pcrs = _region_crs(admin, demand, projected_crs)
    demand = _link_units(demand, demand_ctx, admin, pcrs, snap_distance)
    facilities_layer = layers.get("facilities")
    if facilities_layer is None:
        facilities = _empty_facilities()
    else:
        facilities = _link_units(*facilities_layer, admin, pcrs, snap_distance)
    candidates_layer = layers.get("candidates")
    if candidates_layer is None:
        candidates = _candidates_from_demand(demand)
    else:
        candidates = _link_units(*candidates_layer, admin, pcrs, snap_distance)
    files = {kind: entry[1].file for kind, entry in layers.items() if entry is not None and entry[1].file is not None}
    return {
        "name": str(name),
        "admin_units": admin,
        "demand": demand,
        "facilities": facilities,
        "candidates": candidates,
        "projected_crs": pcrs,
        "files": files,
    }


# ----------------------------------------------------------------------------- public API
def _read_layer(
    kind: str,
    path: PathType,
    *,
    layer: str | None,
    columns: Mapping[str, str] | None,
    crs: Any,
    lon: str | None = None,
    lat: str | None = None,
) -> tuple[gpd.GeoDataFrame, _Context]:
    schema = SCHEMAS[kind]
    frame, ctx = _read_source(path, schema, layer=layer, crs=crs, lon=lon, lat=lat, columns=columns)
    return _normalize(frame, ctx, columns=columns), ctx


def _with_admin(
    _kind: str,  # the layer kind, named at the call for the reader's sake
    layer_ctx: tuple[gpd.GeoDataFrame, _Context],
    admin_units: gpd.GeoDataFrame | None,
    snap_distance: float,
) -> gpd.GeoDataFrame:
    gdf, ctx = layer_ctx
    if admin_units is None:
        return gdf
    admin, _ = _frame_layer("admin_units", admin_units)
    return _link_units(gdf, ctx, admin, _region_crs(admin, gdf, None), _snap(snap_distance))


def read_admin_units(
    path: PathType,
    *,
    layer: str | None = None,
    columns: Mapping[str, str] | None = None,
    crs: Any = None,
) -> gpd.GeoDataFrame:
    """Read and validate the admin units (the planning hierarchy) from a file.

    Parameters
    ----------
    path
        GeoPackage, GeoJSON, Shapefile, FlatGeobuf (anything GDAL reads),
        GeoParquet, or CSV. A CSV has no boundaries unless it has a WKT
        ``geometry`` column; units without a boundary are allowed, but no
        point can be assigned to them by location.
    layer
        Layer name in a multi-layer file. By default the only layer, or the
        layer called ``admin_units``.
    columns
        Rename map from regionopt's column name to the file's, e.g.
        ``{"unit_id": "adcode", "parent_id": "parent_adcode"}``.
    crs
        CRS of a file that does not declare one (and of CSV WKT geometries).

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``unit_id`` (str); columns ``name``, ``name_en``,
        ``level``, ``parent_id`` (``None`` at the top), extra columns, and
        geometry (an empty polygon where there is no boundary), in EPSG:4326.

    Raises
    ------
    InputError
        If the file cannot be read or fails a check (see ``docs/errors.md``).
    """
    return _read_layer("admin_units", path, layer=layer, columns=columns, crs=crs)[0]


class _PointLayerReader(Protocol):
    """The signature shared by :func:`read_demand`, :func:`read_facilities` and :func:`read_candidates`."""

    def __call__(
        self,
        path: PathType,
        *,
        layer: str | None = None,
        columns: Mapping[str, str] | None = None,
        crs: Any = None,
        lon: str | None = None,
        lat: str | None = None,
        admin_units: gpd.GeoDataFrame | None = None,
        snap_distance: float = 0.0,
    ) -> gpd.GeoDataFrame: ...


def _point_layer_reader(kind: str, doc: str) -> _PointLayerReader:
    """The public reader of the point layer ``kind``: read it, validate it, link it to the admin units."""

    def read(
        path: PathType,
        *,
        layer: str | None = None,
        columns: Mapping[str, str] | None = None,
        crs: Any = None,
        lon: str | None = None,
        lat: str | None = None,
        admin_units: gpd.GeoDataFrame | None = None,
        snap_distance: float = 0.0,
    ) -> gpd.GeoDataFrame:
        layer_frame = _read_layer(kind, path, layer=layer, columns=columns, crs=crs, lon=lon, lat=lat)
        return _with_admin(kind, layer_frame, admin_units, snap_distance)

    read.__name__ = read.__qualname__ = f"read_{kind}"
    read.__doc__ = doc
    return read


read_demand = _point_layer_reader(
    "demand",
    """Read and validate the demand points (where people live) from a file.

    Parameters
    ----------
    path, layer, columns, crs
        As for :func:`read_admin_units`; the default layer is ``demand``.
        CSV coordinates are WGS-84 longitude/latitude unless ``crs`` says
        otherwise.
    lon, lat
        Coordinate columns of a CSV (or plain Parquet) file. By default
        ``lon``/``lng``/``long``/``longitude``/``x`` and
        ``lat``/``latitude``/``y``, case-insensitively.
    admin_units
        Admin units (e.g. from :func:`read_admin_units`) to check ``unit_id``
        against and to assign missing ``unit_id`` values from, by
        point-in-polygon. Without them ``unit_id`` is left as in the file
        (``None`` where absent).
    snap_distance
        Points up to this many metres outside every admin unit go to the
        nearest one instead of being an error. Default 0.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``demand_id`` (str); columns ``unit_id``, ``population``,
        any ``pop_<group>``, ``urban`` (bool, default False), extra columns,
        point geometry in EPSG:4326.
    """,
)

read_facilities = _point_layer_reader(
    "facilities",
    """Read and validate the existing facilities from a file.

    Parameters are those of :func:`read_demand`; the default layer is
    ``facilities``.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``facility_id`` (str); columns ``facility_type``,
        ``unit_id``, ``capacity`` (NaN = unlimited), ``name``, ``source``
        (``"user"`` unless the file says otherwise), extra columns, point
        geometry in EPSG:4326. May be empty.
    """,
)

read_candidates = _point_layer_reader(
    "candidates",
    """Read and validate the candidate sites (where new facilities may be built).

    Parameters are those of :func:`read_demand`; the default layer is
    ``candidates``.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``site_id`` (str); columns ``unit_id``, ``kind``
        (``"site"`` unless the file says otherwise), extra columns, point
        geometry in EPSG:4326.
    """,
)


SPEC_KEYS = ("path", "layer", "columns", "crs", "lon", "lat")


def _spec_layer(kind: str, value: Any, columns: Mapping[str, str] | None) -> tuple[gpd.GeoDataFrame, _Context]:
    """One layer of :func:`load_region`: a path, a spec dict or a GeoDataFrame."""
    if isinstance(value, pd.DataFrame):
        return _frame_layer(kind, value, columns=columns)
    if isinstance(value, (str, PathLike)):
        value = {"path": value}
    if not isinstance(value, Mapping):
        raise InputError(
            f"{kind} must be a file path, a {{'path': ...}} dict or a GeoDataFrame, got {type(value).__name__}",
            field=kind,
            hint=f"e.g. {kind}='data/{kind}.gpkg' or {kind}={{'path': 'region.gpkg', 'layer': '{kind}'}}",
        )
    unknown = [k for k in value if k not in SPEC_KEYS]
    if unknown or "path" not in value:
        problem = f"has unknown key {unknown[0]!r}" if unknown else "has no 'path'"
        match = _closest(unknown[0], SPEC_KEYS) if unknown else None
        raise InputError(
            f"the {kind} spec {problem}",
            field=kind,
            hint=(f"did you mean {match!r}? " if match else "") + f"keys are {', '.join(SPEC_KEYS)}",
        )
    merged = {**(columns or {}), **(value.get("columns") or {})}
    return _read_layer(
        kind,
        value["path"],
        layer=value.get("layer"),
        columns=merged or None,
        crs=value.get("crs"),
        lon=value.get("lon"),
        lat=value.get("lat"),
    )


def _frame_layer(kind: str, frame: Any, columns: Mapping[str, str] | None = None) -> tuple[gpd.GeoDataFrame, _Context]:
    ctx = _Context(SCHEMAS[kind])
    return _normalize(frame, ctx, columns=columns), ctx


def _columns_by_layer(columns: Mapping[str, Mapping[str, str]] | None) -> dict[str, Mapping[str, str]]:
    columns = dict(columns or {})
    for key, value in columns.items():
        if key not in LAYERS or not isinstance(value, Mapping):
            raise InputError(
                f"columns= is keyed by layer, but has the key {key!r}",
                field="columns",
                hint="e.g. columns={'demand': {'population': 'POP2020'}}; layers are " + ", ".join(LAYERS),
            )
    return columns


def load_region_layers(
    name: str,
    *,
    admin_units: LayerSource,
    demand: LayerSource,
    facilities: LayerSource | None = None,
    candidates: LayerSource | None = None,
    projected_crs: Any = None,
    columns: Mapping[str, Mapping[str, str]] | None = None,
    snap_distance: float = 0.0,
) -> dict[str, Any]:
    """Read a region's layers from files, check them together, and return a :class:`Region`.

    Parameters
    ----------
    name
        The region's name, e.g. ``"Lishui"``.
    admin_units, demand, facilities, candidates
        Each a file path (in a multi-layer file the layer named like the
        keyword is used), a spec dict ``{"path": ..., "layer": ...,
        "columns": {...}, "crs": ..., "lon": ..., "lat": ...}``, or an
        already loaded (Geo)DataFrame.
    facilities
        ``None``: no existing facilities (an empty layer).
    candidates
        ``None``: every demand point is a candidate site (``site_id`` =
        ``demand_id``, ``kind="demand_point"``), the usual assumption of
        p-median and coverage models when no site list exists.
    projected_crs
        Metric CRS for distances; by default the UTM zone of the admin units.
    columns
        Rename maps per layer, e.g. ``{"demand": {"population": "POP2020"}}``;
        a spec dict's own ``columns`` wins over this.
    snap_distance
        Points (without ``unit_id``) up to this many metres outside every
        admin unit go to the nearest unit; beyond it they are an error.

    Returns
    -------
    Region
        All layers in EPSG:4326; ``files`` records where each came from.

    Raises
    ------
    InputError
        If any file cannot be read or any check fails (see ``docs/errors.md``).
    """
    by_layer = _columns_by_layer(columns)
    snap = _snap(snap_distance)
    sources = {"admin_units": admin_units, "demand": demand, "facilities": facilities, "candidates": candidates}
    layers: dict[str, tuple[gpd.GeoDataFrame, _Context] | None] = {}
    for kind in LAYERS:
        value = sources[kind]
        if value is None and kind in ("admin_units", "demand"):
            raise InputError(f"no {kind} given", field=kind, hint=f"pass {kind}= a file path")
        layers[kind] = None if value is None else _spec_layer(kind, value, by_layer.get(kind))
    return _assemble(name, layers, projected_crs=projected_crs, snap_distance=snap)


def region_layers_from_geodataframes(
    *,
    name: str = "region",
    admin_units: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    projected_crs: Any = None,
    columns: Mapping[str, Mapping[str, str]] | None = None,
    snap_distance: float = 0.0,
) -> dict[str, Any]:
    """Validate GeoDataFrames built in code exactly like files, and return a :class:`Region`.

    The ID may be a column or the (named) index. Errors name the layer and
    the record's ID instead of a file and row. ``facilities=None`` means none
    exist; ``candidates=None`` makes every demand point a candidate site, as
    in :func:`load_region`. A plain DataFrame with lon/lat columns is
    accepted too (WGS-84).
    """
    by_layer = _columns_by_layer(columns)
    snap = _snap(snap_distance)
    sources = {"admin_units": admin_units, "demand": demand, "facilities": facilities, "candidates": candidates}
    layers = {
        kind: None if sources[kind] is None else _frame_layer(kind, sources[kind], by_layer.get(kind))
        for kind in LAYERS
    }
    if layers["admin_units"] is None or layers["demand"] is None:
        missing = "admin_units" if layers["admin_units"] is None else "demand"
        raise InputError(f"no {missing} given", field=missing, hint=f"pass {missing}= a GeoDataFrame")
    return _assemble(name, layers, projected_crs=projected_crs, snap_distance=snap)
