"""Column mapping and layer schemas: find, rename, parse and check the columns of a layer."""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, SupportsFloat

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import booleans
from ..errors import InputError

#: The four layers of a region, in the order they are read and checked.
LAYERS = ("admin_units", "demand", "facilities", "candidates")

#: The ID column (and index name) of each layer.
ID_COLUMNS = {
    "admin_units": "unit_id",
    "demand": "demand_id",
    "facilities": "facility_id",
    "candidates": "site_id",
}

# Column names recognised as coordinates in CSV and plain Parquet tables,
# compared case-insensitively, in order of preference (so ``lon`` beats ``x``).
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
WKT_NAMES = ("geometry", "wkt")
# Yes/no words: the shared ones (optimizer.booleans) plus urban/rural for `urban`.
TRUE_WORDS = set(booleans.TRUE_WORDS) | {"urban"}
FALSE_WORDS = set(booleans.FALSE_WORDS) | {"rural"}


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
        "admin_units",
        "unit_id",
        "admin unit",
        "admin units",
        required=("level",),
        optional=("name", "name_en", "parent_id"),
        id_refs=("parent_id",),
        points=False,
    ),
    "demand": _Schema(
        "demand",
        "demand_id",
        "demand point",
        "demand points",
        required=("population",),
        optional=("unit_id", "urban"),
        id_refs=("unit_id",),
        points=True,
        groups=True,
    ),
    "facilities": _Schema(
        "facilities",
        "facility_id",
        "facility",
        "facilities",
        required=("facility_type",),
        optional=("unit_id", "capacity", "name", "source"),
        id_refs=("unit_id",),
        points=True,
    ),
    "candidates": _Schema(
        "candidates",
        "site_id",
        "candidate site",
        "candidate sites",
        required=(),
        optional=("unit_id", "kind"),
        id_refs=("unit_id",),
        points=True,
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


def _num(value: SupportsFloat) -> str:
    """A number as a planner would write it: ``-5``, ``0.25``, ``inf``."""
    number = float(value)
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return f"{number:g}"


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


def _has_geometry(frame: gpd.GeoDataFrame) -> bool:
    """Whether ``frame`` has an active geometry column (``frame.geometry`` raises otherwise)."""
    name = frame._geometry_column_name
    return name is not None and name in frame.columns


def _located(geoms: gpd.GeoSeries) -> np.ndarray:
    """True where a geometry is present and not empty."""
    values = np.asarray(geoms.array if hasattr(geoms, "array") else geoms, dtype=object)
    return ~shapely.is_missing(values) & ~shapely.is_empty(values)


def _check_unique_columns(names: Iterable[Any], *, ctx_file: Path | None = None, ctx: _Context | None = None) -> None:
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


def _find_column(frame: pd.DataFrame, candidates: Iterable[str]) -> str | None:
    lowered = {str(c).lower(): c for c in reversed(list(frame.columns))}
    for name in candidates:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


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
            f"{label} must be a number, got {series.tolist()[0]!r}",
            pos=0,
            field=field,
            raw_field=raw_field,
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
    cleaned = pd.Series([None if b else v for v, b in zip(text, blank, strict=False)], index=series.index, dtype=object)
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
        raise ctx.error(f"{label} is missing", pos=missing, field=column, hint=f"fill in {what} (0 if there are none)")
    as_float = values.to_numpy(dtype=float)
    infinite = _first(np.isinf(as_float))
    if infinite is not None:
        raise ctx.error(
            f"{label} is infinite ({_num(as_float[infinite])})",
            pos=infinite,
            field=column,
            hint=f"give {what} as a finite number",
        )
    negative = _first(as_float < 0)
    if negative is not None:
        raise ctx.error(
            f"{label} is negative ({_num(as_float[negative])})",
            pos=negative,
            field=column,
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
            f"{name} is missing",
            pos=missing,
            field=name,
            hint=f"give every {ctx.schema.noun} a unique {name}",
        )
    seen: dict[str | None, int] = {}  # no None left: missing IDs were reported above
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


SHAPEFILE_NAME_LIMIT = 10


#: Points farther than this from every admin unit's bounding box are rejected
#: as "outside the region": a wrong CRS, a typo in a coordinate or a file of
#: another region, never a real demand point or site.
OUTSIDE_TOLERANCE_KM = 10.0


def _swap_hint(ctx: _Context) -> str:
    if ctx.lonlat is not None:
        return f"swap the two columns, or pass lon={ctx.lonlat[1]!r}, lat={ctx.lonlat[0]!r}"
    return "swap X and Y in your GIS (QGIS: Processing ▸ 'Swap X and Y coordinates')"
