"""Formats: read any GDAL layer, GeoParquet, Parquet or CSV into a table, with clear errors."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from .._optional import optional_import
from ..datum import WGS84
from ..errors import InputError
from .columns import (
    LAT_NAMES,
    LON_NAMES,
    WKT_NAMES,
    _check_unique_columns,
    _closest,
    _Context,
    _find_column,
    _first,
    _has_geometry,
    _located,
    _parse_numbers,
    _quoted,
    _Schema,
    _text_values,
)

PathType: TypeAlias = str | PathLike[str]
LayerSource: TypeAlias = PathType | Mapping[str, Any] | gpd.GeoDataFrame | pd.DataFrame

CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
PARQUET_SUFFIXES = {".parquet", ".geoparquet", ".pq"}
SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods", ".numbers"}
FORMATS_HINT = (
    "use a GeoPackage (.gpkg), GeoJSON, Shapefile, FlatGeobuf (.fgb), GeoParquet (.parquet) or CSV with lon/lat columns"
)


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


def _gdal_reason(exc: Exception) -> str:
    """The library's own explanation, on one line, without GDAL's advice about drivers."""
    text = " ".join(str(exc).split())
    if (
        "not recognized as being in a supported file format" in text
        or "not recognized as a supported file format" in text
    ):
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
            raise InputError(
                "cannot open the file: permission denied", file=path, hint="check the file's permissions"
            ) from exc
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


def _read_parquet(path: Path) -> pd.DataFrame:
    try:  # pyarrow (optional, as for any Parquet file) refuses repeated names unclearly; name the column
        pq = optional_import("pyarrow.parquet", purpose="reading Parquet files")
        names = pq.read_schema(path).names
    except Exception:  # not readable: reported below with the reader's own reason
        names = []
    _check_unique_columns(names, ctx_file=path)
    try:
        return gpd.read_parquet(path)
    except ValueError as exc:
        if "geo" not in str(exc).lower():
            raise InputError(
                f"cannot read the Parquet file ({_gdal_reason(exc)})", file=path, hint=FORMATS_HINT
            ) from exc
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
    bad = _first([t is not None and g is None for t, g in zip(text, geoms, strict=False)])
    if bad is not None:
        bad_text = text[bad]
        assert bad_text is not None  # ``bad`` is a row with text that did not parse
        shown = bad_text if len(bad_text) <= 60 else bad_text[:60] + "…"
        raise ctx.error(
            f"geometry is not valid WKT: {shown!r}",
            pos=bad,
            field=column,
            raw_field=True,
            hint="write geometries as WKT, e.g. 'POLYGON ((120 30, 121 30, 121 31, 120 30))'",
        )
    return geoms
