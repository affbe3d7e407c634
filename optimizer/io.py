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

import csv
import difflib
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Union

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Geod
from pyproj.exceptions import CRSError

from . import booleans
from .distance import projected_crs as _projected_crs
from .errors import InputError
from .region import WGS84, Region

__all__ = [
    "LAYERS",
    "ID_COLUMNS",
    "OUTSIDE_TOLERANCE_KM",
    "read_admin_units",
    "read_demand",
    "read_facilities",
    "read_candidates",
    "load_region",
    "region_from_geodataframes",
]

PathType = Union[str, "PathLike[str]"]
LayerSource = Union[PathType, Mapping[str, Any], gpd.GeoDataFrame, pd.DataFrame]

#: The four layers of a region, in the order they are read and checked.
LAYERS = ("admin_units", "demand", "facilities", "candidates")

#: The ID column (and index name) of each layer.
ID_COLUMNS = {
    "admin_units": "unit_id",
    "demand": "demand_id",
    "facilities": "facility_id",
    "candidates": "site_id",
}

#: Points farther than this from every admin unit's bounding box are rejected
#: as "outside the region": a wrong CRS, a typo in a coordinate or a file of
#: another region, never a real demand point or site.
OUTSIDE_TOLERANCE_KM = 10.0

# Boundaries this close (metres) to the nearest one count as equally near when
# snapping a point to a unit, so that the finest of nested units wins.
NEAR_TIE_M = 50.0

# Column names recognised as coordinates in CSV and plain Parquet tables,
# compared case-insensitively, in order of preference (so ``lon`` beats ``x``).
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
WKT_NAMES = ("geometry", "wkt")

CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
PARQUET_SUFFIXES = {".parquet", ".geoparquet", ".pq"}
SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods", ".numbers"}
FORMATS_HINT = (
    "use a GeoPackage (.gpkg), GeoJSON, Shapefile, FlatGeobuf (.fgb), "
    "GeoParquet (.parquet) or CSV with lon/lat columns"
)
# Yes/no words: the shared ones (optimizer.booleans) plus urban/rural for `urban`.
TRUE_WORDS = set(booleans.TRUE_WORDS) | {"urban"}
FALSE_WORDS = set(booleans.FALSE_WORDS) | {"rural"}
SHAPEFILE_NAME_LIMIT = 10


# ----------------------------------------------------------------------------- schemas
@dataclass(frozen=True)
class _Schema:
    """What one canonical layer looks like (see the :mod:`optimizer.region` docstring)."""

    kind: str
    id: str
    noun: str
    plural: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    id_refs: tuple[str, ...]
    points: bool
    groups: bool = False  # accepts pop_<group> columns

    @property
    def names(self) -> tuple[str, ...]:
        return (self.id, *self.required, *self.optional)


SCHEMAS = {
    "admin_units": _Schema(
        "admin_units", "unit_id", "admin unit", "admin units",
        required=("level",), optional=("name", "name_en", "parent_id"),
        id_refs=("parent_id",), points=False,
    ),
    "demand": _Schema(
        "demand", "demand_id", "demand point", "demand points",
        required=("population",), optional=("unit_id", "urban"),
        id_refs=("unit_id",), points=True, groups=True,
    ),
    "facilities": _Schema(
        "facilities", "facility_id", "facility", "facilities",
        required=("facility_type",), optional=("unit_id", "capacity", "name", "source"),
        id_refs=("unit_id",), points=True,
    ),
    "candidates": _Schema(
        "candidates", "site_id", "candidate site", "candidate sites",
        required=(), optional=("unit_id", "kind"),
        id_refs=("unit_id",), points=True,
    ),
}


# ----------------------------------------------------------------------------- context
@dataclass
class _Context:
    """Where a layer came from, so every error can point at the right place."""

    schema: _Schema
    file: Path | None = None
    layer: str | None = None
    show_layer: bool = False
    table: bool = False  # CSV or plain Parquet: coordinates come from columns
    shapefile: bool = False
    colmap: dict[str, str] = field(default_factory=dict)  # canonical -> source column
    lonlat: tuple[str, str] | None = None
    ids: np.ndarray | None = None

    @property
    def label(self) -> str:
        """The layer as the user knows it, for warnings."""
        if self.file is None:
            return f"{self.schema.kind} layer"
        return f"{self.file} (layer {self.layer!r})" if self.show_layer else str(self.file)

    def column(self, canonical: str | None) -> str | None:
        """The column name the user wrote for ``canonical``."""
        return None if canonical is None else self.colmap.get(canonical, canonical)

    def row(self, pos: int) -> int | str:
        """Files: the 1-based data row. Data built in code: the ID once IDs are known."""
        if self.file is None and self.ids is not None:
            return str(self.ids[pos])
        return int(pos) + 1

    def error(
        self,
        message: str,
        *,
        pos: int | None = None,
        field: str | None = None,
        hint: str | None = None,
        raw_field: bool = False,
    ) -> InputError:
        if self.file is None:
            prefix = f"{self.schema.kind} layer: "
        elif self.show_layer:
            prefix = f"layer {self.layer!r}: "
        else:
            prefix = ""
        return InputError(
            prefix + message,
            file=self.file,
            row=None if pos is None else self.row(pos),
            field=field if raw_field else self.column(field),
            hint=hint,
        )


# ----------------------------------------------------------------------------- small helpers
def _quoted(names: Iterable[Any], limit: int = 12) -> str:
    names = [str(n) for n in names]
    text = ", ".join(repr(n) for n in names[:limit])
    if len(names) > limit:
        text += f", … ({len(names) - limit} more)"
    return text or "none"


def _closest(word: str, choices: Iterable[Any]) -> str | None:
    """The choice that looks most like ``word`` (case-insensitive), if any looks close."""
    choices = [str(c) for c in choices]
    lowered = {c.lower(): c for c in reversed(choices)}
    match = difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def _num(value: float) -> str:
    """A number as a planner would write it: ``-5``, ``0.25``, ``inf``."""
    value = float(value)
    if math.isfinite(value) and value.is_integer():
        return str(int(value))
    return f"{value:g}"


def _first(mask: np.ndarray | pd.Series) -> int | None:
    hits = np.flatnonzero(np.asarray(mask, dtype=bool))
    return int(hits[0]) if len(hits) else None


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text_values(series: pd.Series) -> list[str | None]:
    """Values as stripped strings; missing and blank become ``None``.

    IDs read from GIS files are often integers, or floats when a column has
    gaps (``1.0``); both must compare equal to the ``"1"`` of a CSV file.
    """
    out: list[str | None] = []
    for value in series.tolist():
        if _is_missing(value):
            out.append(None)
            continue
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        text = str(value).strip()
        out.append(text or None)
    return out


def _object_series(values: list, index: pd.Index) -> pd.Series:
    # object dtype keeps None as None (pandas 3 would turn it into NaN in a str column)
    return pd.Series(values, index=index, dtype=object)


def _str_series(values: list, index: pd.Index) -> pd.Series:
    return pd.Series(values, index=index, dtype="str")


# ----------------------------------------------------------------------------- reading files
def _missing_file_error(path: Path) -> InputError:
    folder = path.parent if str(path.parent) else Path(".")
    hint = "check the path"
    if folder.is_dir():
        siblings = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        match = _closest(path.name, siblings)
        if match is not None:
            hint = f"check the path; did you mean {str(folder / match)!r}?"
    elif str(folder) not in ("", "."):
        hint = f"check the path; the folder {str(folder)!r} does not exist either"
    return InputError("file not found", file=path, hint=hint)


def _read_source(
    source: PathType,
    schema: _Schema,
    *,
    layer: str | None,
    crs: Any,
    lon: str | None,
    lat: str | None,
    columns: Mapping[str, str] | None,
) -> tuple[gpd.GeoDataFrame, _Context]:
    """Read one layer from a file into a GeoDataFrame with its source CRS."""
    if not isinstance(source, (str, PathLike)):
        raise InputError(
            f"the {schema.kind} layer must be a file path, got {type(source).__name__}",
            hint="pass a path such as 'data/demand.gpkg'",
        )
    path = Path(os.fspath(source)).expanduser()
    ctx = _Context(schema, file=path)
    if not path.exists():
        raise _missing_file_error(path)
    suffix = path.suffix.lower()
    if suffix in SPREADSHEET_SUFFIXES:
        raise InputError(
            f"spreadsheets ({suffix}) cannot be read",
            file=path,
            hint="save the sheet as 'CSV UTF-8' with lon/lat columns, or export a GeoPackage from your GIS",
        )
    crs = _user_crs(crs, ctx)
    if suffix in CSV_SUFFIXES or suffix in PARQUET_SUFFIXES:
        if layer is not None:
            kind = "CSV" if suffix in CSV_SUFFIXES else "Parquet"
            raise InputError(
                f"{kind} files have no layers, but layer={layer!r} was given",
                file=path,
                hint="drop layer=; it is for GeoPackages and other multi-layer files",
            )
        if suffix in CSV_SUFFIXES:
            frame = _read_csv(path, CSV_SUFFIXES[suffix], schema, columns)
        else:
            frame = _read_parquet(path)
        if isinstance(frame, gpd.GeoDataFrame):
            if lon is not None or lat is not None:
                raise _lonlat_error(path)
            return _apply_crs(frame, ctx, crs), ctx
        ctx.table = True
        return _table_to_gdf(frame, ctx, crs=crs, lon=lon, lat=lat, columns=columns), ctx
    if lon is not None or lat is not None:
        raise _lonlat_error(path)
    ctx.shapefile = suffix in (".shp", ".dbf") or (path.is_dir() and any(path.glob("*.shp")))
    frame = _read_vector(path, layer, ctx)
    if isinstance(frame, gpd.GeoDataFrame) and _has_geometry(frame):
        return _apply_crs(frame, ctx, crs), ctx
    # an attribute table without geometry (e.g. a GeoPackage table of townships)
    return _apply_crs(gpd.GeoDataFrame(pd.DataFrame(frame), geometry=[None] * len(frame)), ctx, crs), ctx


def _lonlat_error(path: Path) -> InputError:
    return InputError(
        "lon= and lat= are only for CSV and plain Parquet tables; this file has a geometry",
        file=path,
        hint="drop lon= and lat=",
    )


def _read_vector(path: Path, layer: str | None, ctx: _Context) -> pd.DataFrame:
    try:
        listed = pyogrio.list_layers(path)
    except Exception as exc:  # GDAL's messages are specific; keep them, add the file
        raise InputError(
            f"cannot read this file as geodata ({_gdal_reason(exc)})",
            file=path,
            hint=f"check that the file is complete and opens in QGIS; {FORMATS_HINT}",
        ) from exc
    names = [str(n) for n in listed[:, 0]] if len(listed) else []
    if not names:
        raise InputError("the file has no layers", file=path, hint=FORMATS_HINT)
    if layer is not None:
        if layer not in names:
            match = _closest(layer, names)
            hint = f"pass layer={match!r}" if match else "pass one of these layer names as layer="
            raise InputError(f"layer {layer!r} not found; layers in this file: {_quoted(names)}", file=path, hint=hint)
        chosen = layer
    elif len(names) == 1:
        chosen = names[0]
    elif ctx.schema.kind in names:
        chosen = ctx.schema.kind
    else:
        raise InputError(
            f"the file has {len(names)} layers and none is called {ctx.schema.kind!r}: {_quoted(names)}",
            file=path,
            hint=f"pass the {ctx.schema.plural} layer's name as layer=",
        )
    ctx.layer = chosen
    ctx.show_layer = len(names) > 1 or layer is not None
    try:
        return pyogrio.read_dataframe(path, layer=chosen)
    except Exception as exc:
        raise ctx.error(
            f"cannot read the layer ({_gdal_reason(exc)})",
            hint="check that the file is complete and opens in QGIS, or export the layer again",
        ) from exc


def _has_geometry(frame: gpd.GeoDataFrame) -> bool:
    """Whether ``frame`` has an active geometry column (``frame.geometry`` raises otherwise)."""
    name = frame._geometry_column_name
    return name is not None and name in frame.columns


def _located(geoms: gpd.GeoSeries) -> np.ndarray:
    """True where a geometry is present and not empty."""
    values = np.asarray(geoms.array if hasattr(geoms, "array") else geoms, dtype=object)
    return ~shapely.is_missing(values) & ~shapely.is_empty(values)


def _gdal_reason(exc: Exception) -> str:
    """The library's own explanation, on one line, without GDAL's advice about drivers."""
    text = " ".join(str(exc).split())
    if "not recognized as being in a supported file format" in text or "not recognized as a supported file format" in text:
        return "the format is not recognised"
    return text.split("; It might help")[0].rstrip(".") or type(exc).__name__


def _read_csv(path: Path, sep: str, schema: _Schema, columns: Mapping[str, str] | None) -> pd.DataFrame:
    # ID columns are read as text so that "0571" stays "0571"; everything else
    # is inferred, and canonical numbers are parsed (and reported) later.
    names = (schema.id, *schema.id_refs)
    text_columns = {(columns or {}).get(n, n): str for n in names}
    last_error: Exception | None = None
    for encoding in ("utf-8-sig", "gb18030"):  # GB18030: CSVs saved by Chinese-locale Excel
        try:
            with path.open("r", encoding=encoding) as fh:
                header = fh.readline()
            if sep == "," and "," not in header and ";" in header:
                sep = ";"  # European Excel writes semicolons
            frame = pd.read_csv(path, sep=sep, dtype=text_columns, encoding=encoding)
        except UnicodeDecodeError as exc:
            last_error = exc
            continue
        except PermissionError as exc:
            raise InputError("cannot open the file: permission denied", file=path,
                             hint="check the file's permissions") from exc
        except pd.errors.EmptyDataError as exc:
            raise InputError("the file is empty", file=path, hint="write a header row and one row per record") from exc
        except (pd.errors.ParserError, ValueError, OSError) as exc:
            raise InputError(
                f"cannot parse the CSV ({_gdal_reason(exc)})",
                file=path,
                hint="check the quoting and the number of fields on that line",
            ) from exc
        # pandas renames a repeated header ('population.1'): check the header as written.
        _check_unique_columns(next(csv.reader([header.strip("\r\n")], delimiter=sep), []), ctx_file=path)
        frame.columns = [str(c).strip() for c in frame.columns]
        return frame
    raise InputError(
        "the file is neither UTF-8 nor GB18030 text",
        file=path,
        hint="save it as 'CSV UTF-8'",
    ) from last_error


def _check_unique_columns(names: Iterable[Any], *, ctx_file: Path | None = None, ctx: "_Context | None" = None) -> None:
    """Refuse a column name given twice: one of the two would be used and the other silently ignored."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        key = str(name).strip().lstrip("\ufeff")
        if key in seen:
            message = f"column {key!r} appears twice (columns {seen[key]} and {position})"
            hint = "rename or delete one of them, so that it is clear which one holds the data"
            if ctx is not None:
                raise ctx.error(message, field=key, raw_field=True, hint=hint)
            raise InputError(message, file=ctx_file, field=key, hint=hint)
        seen[key] = position


def _read_parquet(path: Path) -> pd.DataFrame:
    try:  # pyarrow (optional, as for any Parquet file) refuses repeated names unclearly; name the column
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
    except Exception:  # not readable: reported below with the reader's own reason
        names = []
    _check_unique_columns(names, ctx_file=path)
    try:
        return gpd.read_parquet(path)
    except ValueError as exc:
        if "geo" not in str(exc).lower():
            raise InputError(f"cannot read the Parquet file ({_gdal_reason(exc)})", file=path, hint=FORMATS_HINT) from exc
    except Exception as exc:
        raise InputError(
            f"cannot read the Parquet file ({_gdal_reason(exc)})",
            file=path,
            hint="check that the file is complete, or write it again with GeoDataFrame.to_parquet",
        ) from exc
    try:  # plain Parquet without GeoParquet metadata: a table with coordinate columns
        return pd.read_parquet(path)
    except Exception as exc:  # pragma: no cover - read_parquet already opened it once
        raise InputError(f"cannot read the Parquet file ({_gdal_reason(exc)})", file=path, hint=FORMATS_HINT) from exc


def _user_crs(crs: Any, ctx: _Context) -> CRS | None:
    if crs is None:
        return None
    try:
        return CRS.from_user_input(crs)
    except CRSError as exc:
        raise ctx.error(
            f"crs={crs!r} is not a coordinate reference system",
            hint="give an EPSG code such as 'EPSG:4326' (longitude/latitude) or 'EPSG:32650' (UTM 50N)",
        ) from exc


def _apply_crs(gdf: gpd.GeoDataFrame, ctx: _Context, crs: CRS | None) -> gpd.GeoDataFrame:
    """Give ``gdf`` its CRS: the file's own, else ``crs=``; never a guess for vector data."""
    if gdf.crs is not None:
        if crs is not None and not gdf.crs.equals(crs, ignore_axis_order=True):
            raise ctx.error(
                f"the file declares CRS {gdf.crs.to_string()} but crs={crs.to_string()!r} was passed",
                hint="drop crs=; it is only for files without a CRS and for CSV coordinates",
            )
        return gdf
    if crs is not None:
        return gdf.set_crs(crs)
    if not _located(gdf.geometry).any():
        return gdf.set_crs(WGS84)  # nothing to place: the CRS does not matter
    raise ctx.error(
        "the layer has no coordinate reference system (CRS)",
        hint="set the CRS in your GIS (QGIS: Layer ▸ Set CRS) or pass crs=, "
        "e.g. crs='EPSG:4326' if the coordinates are longitude/latitude",
    )


def _find_column(frame: pd.DataFrame, candidates: Iterable[str]) -> str | None:
    lowered = {str(c).lower(): c for c in reversed(list(frame.columns))}
    for name in candidates:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def _table_to_gdf(
    frame: pd.DataFrame,
    ctx: _Context,
    *,
    crs: CRS | None,
    lon: str | None,
    lat: str | None,
    columns: Mapping[str, str] | None,
) -> gpd.GeoDataFrame:
    """Geometry for a plain table: lon/lat columns (points) or a WKT column."""
    crs = crs if crs is not None else WGS84  # CSV coordinates are WGS-84 unless said otherwise
    taken = set((columns or {}).values())
    for given, role in ((lon, "lon"), (lat, "lat")):
        if given is not None and given not in frame.columns:
            match = _closest(given, frame.columns)
            raise ctx.error(
                f"{role}={given!r} is not a column of this file (columns present: {_quoted(frame.columns)})",
                hint=f"did you mean {role}={match!r}?" if match else f"pass the coordinate column's name as {role}=",
            )
    free = frame[[c for c in frame.columns if c not in taken]]
    if ctx.schema.points or lon is not None or lat is not None:
        lon_col = lon if lon is not None else _find_column(free, LON_NAMES)
        lat_col = lat if lat is not None else _find_column(free, LAT_NAMES)
    else:
        # Admin units are polygons: seat coordinates in their table are just attributes.
        lon_col = lat_col = None
    wkt_col = _find_column(free, WKT_NAMES)
    if lon_col is not None and lat_col is not None:
        ctx.lonlat = (str(lon_col), str(lat_col))
        x = _coordinate(frame, lon_col, "longitude", ctx)
        y = _coordinate(frame, lat_col, "latitude", ctx)
        geometry = gpd.points_from_xy(x, y)
        frame = frame.drop(columns=[lon_col, lat_col])
    elif (lon_col is None) != (lat_col is None):
        found, missing = ("longitude", "latitude") if lat_col is None else ("latitude", "longitude")
        names = LAT_NAMES if lat_col is None else LON_NAMES
        raise ctx.error(
            f"found the {found} column {(lon_col or lat_col)!r} but no {missing} column "
            f"(columns present: {_quoted(frame.columns)})",
            hint=f"name it {names[0]!r} or pass {'lat' if lat_col is None else 'lon'}='<column>'",
        )
    elif wkt_col is not None:
        geometry = _wkt(frame, wkt_col, ctx)
        frame = frame.drop(columns=[wkt_col])
    elif ctx.schema.points:
        raise ctx.error(
            f"no longitude/latitude columns found (columns present: {_quoted(frame.columns)})",
            hint="name them 'lon' and 'lat', or pass lon='<column>', lat='<column>'",
        )
    else:
        geometry = [None] * len(frame)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, index=frame.index), crs=crs)


def _coordinate(frame: pd.DataFrame, column: str, role: str, ctx: _Context) -> np.ndarray:
    values = _parse_numbers(frame[column], ctx, column, role, raw_field=True)
    missing = _first(values.isna())
    if missing is not None:
        raise ctx.error(
            f"{role} is missing",
            pos=missing,
            field=column,
            raw_field=True,
            hint=f"every {ctx.schema.noun} needs a location; fill in its coordinates or remove the row",
        )
    return values.to_numpy(dtype=float)


def _wkt(frame: pd.DataFrame, column: str, ctx: _Context) -> np.ndarray:
    text = _text_values(frame[column])
    geoms = shapely.from_wkt(np.array(text, dtype=object), on_invalid="ignore")
    bad = _first([t is not None and g is None for t, g in zip(text, geoms)])
    if bad is not None:
        shown = text[bad] if len(text[bad]) <= 60 else text[bad][:60] + "…"
        raise ctx.error(
            f"geometry is not valid WKT: {shown!r}",
            pos=bad,
            field=column,
            raw_field=True,
            hint="write geometries as WKT, e.g. 'POLYGON ((120 30, 121 30, 121 31, 120 30))'",
        )
    return geoms


# ----------------------------------------------------------------------------- column names
def _apply_columns(frame: gpd.GeoDataFrame, columns: Mapping[str, str] | None, ctx: _Context) -> gpd.GeoDataFrame:
    """Rename the user's columns to canonical names as ``columns`` (canonical → file column) says."""
    schema = ctx.schema
    # A named index (GeoParquet keeps it; GeoDataFrames built in code often have
    # one) is data: the ID column, usually.
    if frame.index.name is not None and frame.index.name not in frame.columns:
        frame = frame.reset_index()
    geometry_name = frame.geometry.name
    columns = dict(columns or {})
    for key, value in columns.items():
        if key not in schema.names and not (schema.groups and str(key).startswith("pop_")):
            allowed = list(schema.names) + (["pop_<group>"] if schema.groups else [])
            match = _closest(key, schema.names)
            raise ctx.error(
                f"columns= maps {key!r}, which is not a {schema.kind} column",
                field=str(key),
                raw_field=True,
                hint=(f"did you mean {match!r}? " if match else "")
                + f"keys are regionopt's column names: {', '.join(allowed)}",
            )
        if value not in frame.columns or value == geometry_name:
            present = [c for c in frame.columns if c != geometry_name]
            match = _closest(value, present)
            raise ctx.error(
                f"columns= maps {key!r} to {value!r}, but there is no column {value!r} "
                f"(columns present: {_quoted(present)})",
                field=str(value),
                raw_field=True,
                hint=f"did you mean {match!r}?" if match else "fix the column name in columns=",
            )
    mapping = {k: v for k, v in columns.items() if k != v}
    sources = set(mapping.values())
    for key in mapping:
        if key in frame.columns and key not in sources:
            warnings.warn(
                f"{ctx.label}: column {key!r} is ignored because columns= takes {key!r} from {mapping[key]!r}",
                UserWarning,
                stacklevel=4,
            )
    out = frame.drop(columns=[c for c in frame.columns if c in mapping and c not in sources])
    for key, value in mapping.items():
        out[key] = frame[value]
    out = out.drop(columns=[v for v in sources if v not in mapping and v in out.columns])
    ctx.colmap.update(mapping)
    if ctx.shapefile:
        # DBF truncates field names to 10 characters: facility_type -> facility_t.
        for name in schema.names:
            short = name[:SHAPEFILE_NAME_LIMIT]
            if len(name) > SHAPEFILE_NAME_LIMIT and name not in out.columns and short in out.columns:
                out = out.rename(columns={short: name})
                ctx.colmap[name] = short
    return out


def _require_columns(frame: gpd.GeoDataFrame, ctx: _Context) -> None:
    schema = ctx.schema
    present = [c for c in frame.columns if c != frame.geometry.name]
    for name in (schema.id, *schema.required):
        if name in frame.columns:
            continue
        match = _closest(name, [c for c in present if c not in schema.names])
        if name == schema.id and ctx.file is None:
            hint = f"add a {name!r} column, or name the index that holds the IDs: gdf.rename_axis({name!r})"
        elif match is not None:
            hint = f"rename the column {match!r} to {name!r} in the file, or pass columns={{{name!r}: {match!r}}}"
        else:
            hint = f"add a {name!r} column, or map an existing one with columns={{{name!r}: '<your column>'}}"
        raise ctx.error(
            f"required column {name!r} is missing (columns present: {_quoted(present)})",
            field=name,
            hint=hint,
        )


# ----------------------------------------------------------------------------- values
def _parse_numbers(
    series: pd.Series,
    ctx: _Context,
    field: str,
    label: str,
    *,
    raw_field: bool = False,
) -> pd.Series:
    """Numbers (int64 if every value is an integer, else float64); NaN where blank.

    A value that is present but not a number is an error naming its row.
    """
    if pd.api.types.is_bool_dtype(series) and len(series):
        raise ctx.error(
            f"{label} must be a number, got {series.tolist()[0]!r}", pos=0, field=field, raw_field=raw_field,
            hint="give numbers, not true/false",
        )
    if pd.api.types.is_numeric_dtype(series):
        # int32 from GeoJSON, nullable Int64 from Parquet: the same numbers, one dtype
        if pd.api.types.is_integer_dtype(series) and not series.isna().any():
            return series.astype("int64")
        return series.astype("float64")
    raw = series.astype(object).tolist()
    text = [v.strip() if isinstance(v, str) else v for v in raw]
    blank = np.array([_is_missing(v) or v == "" for v in text], dtype=bool)
    cleaned = pd.Series([None if b else v for v, b in zip(text, blank)], index=series.index, dtype=object)
    numbers = pd.to_numeric(cleaned, errors="coerce")
    bad = _first(numbers.isna().to_numpy() & ~blank)
    if bad is not None:
        raise ctx.error(
            f"{label} must be a number, got {raw[bad]!r}",
            pos=bad,
            field=field,
            raw_field=raw_field,
            hint="write plain numbers: '.' as the decimal point, no thousands separators or units",
        )
    if pd.api.types.is_object_dtype(numbers):  # all blank
        numbers = numbers.astype("float64")
    return numbers


def _count_column(
    frame: pd.DataFrame,
    column: str,
    ctx: _Context,
    *,
    label: str,
    what: str,
    allow_missing: bool = False,
) -> pd.Series:
    """A column of counts: numeric, finite, zero or more; missing only if allowed."""
    values = _parse_numbers(frame[column], ctx, column, label)
    missing = _first(values.isna())
    if missing is not None and not allow_missing:
        raise ctx.error(
            f"{label} is missing", pos=missing, field=column, hint=f"fill in {what} (0 if there are none)"
        )
    as_float = values.to_numpy(dtype=float)
    infinite = _first(np.isinf(as_float))
    if infinite is not None:
        raise ctx.error(
            f"{label} is infinite ({_num(as_float[infinite])})", pos=infinite, field=column,
            hint=f"give {what} as a finite number",
        )
    negative = _first(as_float < 0)
    if negative is not None:
        raise ctx.error(
            f"{label} is negative ({_num(as_float[negative])})", pos=negative, field=column,
            hint=f"{what} must be 0 or more",
        )
    return values


def _ids(frame: pd.DataFrame, ctx: _Context) -> np.ndarray:
    """The layer's IDs as strings; missing and duplicate IDs are errors."""
    name = ctx.schema.id
    ids = _text_values(frame[name])
    missing = _first([v is None for v in ids])
    if missing is not None:
        raise ctx.error(
            f"{name} is missing", pos=missing, field=name,
            hint=f"give every {ctx.schema.noun} a unique {name}",
        )
    seen: dict[str, int] = {}
    for pos, value in enumerate(ids):
        if value in seen:
            first = seen[value]
            unit = "rows" if ctx.file is not None else "positions"
            raise ctx.error(
                f"{name} {value!r} is used twice ({unit} {first + 1} and {pos + 1})",
                pos=pos,
                field=name,
                hint=f"IDs must be unique within the {ctx.schema.kind} layer",
            )
        seen[value] = pos
    return np.array(ids, dtype=object)


def _labels(frame: pd.DataFrame, column: str, ctx: _Context, *, required: bool, hint: str) -> list[str | None]:
    values = _text_values(frame[column])
    if required:
        missing = _first([v is None for v in values])
        if missing is not None:
            raise ctx.error(f"{column} is missing", pos=missing, field=column, hint=hint)
    return values


def _flags(frame: pd.DataFrame, column: str, ctx: _Context) -> np.ndarray:
    """A yes/no column: booleans, 0/1, or words such as true/false, yes/no, urban/rural."""
    out = np.zeros(len(frame), dtype=bool)
    for pos, value in enumerate(frame[column].tolist()):
        if isinstance(value, (bool, np.bool_)):
            out[pos] = bool(value)
            continue
        if _is_missing(value) or (isinstance(value, str) and not value.strip()):
            raise ctx.error(
                f"{column} is missing",
                pos=pos,
                field=column,
                hint="fill in true or false (or leave the column out: every point is then rural)",
            )
        word = None if _is_missing(value) else str(_num(value) if isinstance(value, (int, float, np.number)) else value)
        word = None if word is None else word.strip().lower()
        if word in TRUE_WORDS:
            out[pos] = True
        elif word in FALSE_WORDS:
            out[pos] = False
        else:
            raise ctx.error(
                f"{column} must be true or false, got {value!r}",
                pos=pos,
                field=column,
                hint="use true/false, yes/no or 1/0 (or leave the column out: every point is then rural)",
            )
    return out


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
        allowed = ("Point",)
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
                "the point's coordinates are not finite numbers", pos=bad, field="geometry", raw_field=True,
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


def _swap_hint(ctx: _Context) -> str:
    if ctx.lonlat is not None:
        return f"swap the two columns, or pass lon={ctx.lonlat[1]!r}, lat={ctx.lonlat[0]!r}"
    return "swap X and Y in your GIS (QGIS: Processing ▸ 'Swap X and Y coordinates')"


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
            | (bounds[:, 0] < -180) | (bounds[:, 2] > 180) | (bounds[:, 1] < -90) | (bounds[:, 3] > 90)
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
        levels = _labels(frame, "level", ctx, required=True,
                         hint="give every admin unit its level, e.g. province, prefecture, county or township")
        names = _labels(frame, "name", ctx, required=False, hint="") if "name" in frame else [None] * len(frame)
        names = [n if n is not None else uid for n, uid in zip(names, ids)]
        names_en = _labels(frame, "name_en", ctx, required=False, hint="") if "name_en" in frame else [None] * len(frame)
        names_en = [e if e is not None else n for e, n in zip(names_en, names)]
        parents = _labels(frame, "parent_id", ctx, required=False, hint="") if "parent_id" in frame else [None] * len(frame)
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
            _labels(frame, "facility_type", ctx, required=True,
                    hint="give every facility its type, e.g. hospital, school or culture"),
            index,
        )
        data["unit_id"] = _unit_ids(frame, index)
        if "capacity" in frame:
            capacity = _count_column(frame, "capacity", ctx, label="capacity", what="the capacity",
                                     allow_missing=True)
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
    parent_of = dict(zip(ids.tolist(), parents))
    position = {uid: pos for pos, uid in enumerate(ids.tolist())}
    done: set[str] = set()
    for start in ids.tolist():
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node is not None and node not in done:
            if node in on_path:
                cycle = path[path.index(node):] + [node]
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
    if near(xy[pos:pos + 1, ::-1])[0]:
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
) -> Region:
    admin, _ = layers["admin_units"]
    demand, demand_ctx = layers["demand"]
    pcrs = _region_crs(admin, demand, projected_crs)
    demand = _link_units(demand, demand_ctx, admin, pcrs, snap_distance)
    if layers.get("facilities") is None:
        facilities = _empty_facilities()
    else:
        facilities = _link_units(*layers["facilities"], admin, pcrs, snap_distance)
    if layers.get("candidates") is None:
        candidates = _candidates_from_demand(demand)
    else:
        candidates = _link_units(*layers["candidates"], admin, pcrs, snap_distance)
    files = {
        kind: entry[1].file
        for kind, entry in layers.items()
        if entry is not None and entry[1].file is not None
    }
    return Region(
        name=str(name),
        admin_units=admin,
        demand=demand,
        facilities=facilities,
        candidates=candidates,
        projected_crs=pcrs,
        files=files,
    )


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
    kind: str,
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


def read_demand(
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
    """
    return _with_admin(
        "demand",
        _read_layer("demand", path, layer=layer, columns=columns, crs=crs, lon=lon, lat=lat),
        admin_units,
        snap_distance,
    )


def read_facilities(
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
    """
    return _with_admin(
        "facilities",
        _read_layer("facilities", path, layer=layer, columns=columns, crs=crs, lon=lon, lat=lat),
        admin_units,
        snap_distance,
    )


def read_candidates(
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
    """Read and validate the candidate sites (where new facilities may be built).

    Parameters are those of :func:`read_demand`; the default layer is
    ``candidates``.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``site_id`` (str); columns ``unit_id``, ``kind``
        (``"site"`` unless the file says otherwise), extra columns, point
        geometry in EPSG:4326.
    """
    return _with_admin(
        "candidates",
        _read_layer("candidates", path, layer=layer, columns=columns, crs=crs, lon=lon, lat=lat),
        admin_units,
        snap_distance,
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


def _frame_layer(
    kind: str, frame: Any, columns: Mapping[str, str] | None = None
) -> tuple[gpd.GeoDataFrame, _Context]:
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


def load_region(
    name: str,
    *,
    admin_units: LayerSource,
    demand: LayerSource,
    facilities: LayerSource | None = None,
    candidates: LayerSource | None = None,
    projected_crs: Any = None,
    columns: Mapping[str, Mapping[str, str]] | None = None,
    snap_distance: float = 0.0,
) -> Region:
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


def region_from_geodataframes(
    *,
    name: str = "region",
    admin_units: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    projected_crs: Any = None,
    columns: Mapping[str, Mapping[str, str]] | None = None,
    snap_distance: float = 0.0,
) -> Region:
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
