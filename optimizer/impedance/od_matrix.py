"""Origin-destination (OD) matrices: a long table of demand point, target, minutes and/or km.

This is what OSRM ``table``, r5py ``TravelTimeMatrix``, Valhalla and ArcGIS
OD Cost Matrix give once flattened. One row per (origin, destination) pair:

========== =================================================================
column     meaning
========== =================================================================
origin     ``demand_id`` of a demand point
destination ``site_id`` of a candidate site or ``facility_id`` of an existing facility
minutes    travel time (optional if ``km`` is given)
km         travel distance (optional if ``minutes`` is given)
========== =================================================================

Other column names are mapped with ``columns`` (canonical name → column in
the file), as for the region layers. Pairs absent from the table are out of
reach. The file is read in chunks (CSV: pandas chunks; Parquet: pyarrow record
batches; GeoPackage: pyogrio feature ranges) and only the pairs within the
largest standard are kept, so a matrix larger than memory still loads.

Every row's numbers are checked (missing, non-numeric, negative); the IDs,
and duplicate pairs, are checked among the kept rows — rows beyond every
standard are never used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyogrio

from .._optional import optional_import
from ..errors import InputError
from .base import EMPTY_PAIRS, Impedance, Pairs, Points, _sorted, join_on_keys

if TYPE_CHECKING:  # pragma: no cover - pyarrow is an optional extra, needed for Parquet only
    import pyarrow as pa

__all__ = ["ODMatrix", "read_od_matrix", "write_od_matrix", "OD_COLUMNS"]

OD_COLUMNS = ("origin", "destination", "minutes", "km")
CHUNK_ROWS = 1_000_000
_MISSING_TEXT = {"", "nan", "na", "n/a", "null", "none"}


class ODMatrix(Impedance):
    """Travel minutes / km read from an OD matrix file.

    Attributes
    ----------
    origin, destination
        Per kept pair: the position of its origin among ``origin_ids`` and of
        its destination among ``destination_ids``.
    minutes, km
        Per kept pair (NaN where the file has no such column).
    """

    kind = "od_matrix"

    def __init__(
        self,
        origin: np.ndarray,
        destination: np.ndarray,
        minutes: np.ndarray,
        km: np.ndarray,
        origin_ids: np.ndarray,
        destination_ids: np.ndarray,
        *,
        source: Path | None = None,
        has_minutes: bool = True,
        has_km: bool = True,
    ) -> None:
        self.origin = np.asarray(origin, np.int64)
        self.destination = np.asarray(destination, np.int64)
        self.minutes = np.asarray(minutes, float)
        self.km = np.asarray(km, float)
        self.origin_ids = pd.Index(np.asarray(origin_ids).astype(str))
        self.destination_ids = pd.Index(np.asarray(destination_ids).astype(str))
        self.source = source
        self.has_minutes = has_minutes
        self.has_km = has_km

    def describe(self) -> str:
        what = " and ".join(x for x, ok in (("minutes", self.has_minutes), ("km", self.has_km)) if ok)
        name = self.source.name if self.source is not None else "in-memory matrix"
        return f"OD matrix {name} ({len(self.origin):,} pairs in reach, {what})"

    def _select(self, demand: Points, targets: Points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Kept pairs between ``demand`` and ``targets``: (pair index, demand row, target col)."""
        d_pos = self.origin_ids.get_indexer(demand.ids)
        t_pos = self.destination_ids.get_indexer(targets.ids)
        d_ok = np.flatnonzero(d_pos >= 0)
        t_ok = np.flatnonzero(t_pos >= 0)
        p, r = join_on_keys(self.origin, d_pos[d_ok])
        q, c = join_on_keys(self.destination[p], t_pos[t_ok])
        return p[q], d_ok[r[q]], t_ok[c]

    def pairs(
        self, demand: Points, targets: Points, minutes: np.ndarray | None = None, km: np.ndarray | None = None
    ) -> Pairs:
        if len(demand) == 0 or len(targets) == 0 or len(self.origin) == 0:
            return EMPTY_PAIRS
        pair, rows, cols = self._select(demand, targets)
        t, d = self.minutes[pair], self.km[pair]
        keep = self._keep(rows, t, d, minutes, km)
        return _sorted(rows[keep], cols[keep], t[keep], d[keep])

    def nearest_km(self, demand: Points, targets: Points) -> np.ndarray:
        """Km to the nearest target among the kept pairs (``inf`` where none is within the largest standard)."""
        return self._nearest(self.km, demand, targets)

    def nearest_minutes(self, demand: Points, targets: Points) -> np.ndarray:
        """Minutes to the quickest target among the kept pairs (``inf``: none kept; NaN: no minutes column)."""
        if not self.has_minutes:
            return np.full(len(demand), np.nan)
        return self._nearest(self.minutes, demand, targets)

    def _nearest(self, values: np.ndarray, demand: Points, targets: Points) -> np.ndarray:
        out = np.full(len(demand), np.inf)
        if len(targets) and len(self.origin):
            pair, rows, _ = self._select(demand, targets)
            d = values[pair]
            ok = np.isfinite(d)
            np.minimum.at(out, rows[ok], d[ok])
        return out


# ----------------------------------------------------------------------------- reading
def _chunks(
    path: Path, fmt: str, columns: dict[str, str], layer: str | None, chunk_rows: int
) -> Iterator[tuple[int, pd.DataFrame]]:
    """``(offset, frame)`` chunks of the file with the file's own column names (IDs as text)."""
    wanted = list(dict.fromkeys(columns.values()))
    if fmt == "csv":
        try:
            reader = pd.read_csv(
                path,
                usecols=lambda c: c in wanted,
                dtype=str,
                keep_default_na=False,
                chunksize=chunk_rows,
                encoding="utf-8",
            )
            offset = 0
            for frame in reader:
                yield offset, frame
                offset += len(frame)
        except UnicodeDecodeError:
            raise InputError("the OD matrix is not UTF-8 text", file=path, hint="save it as 'CSV UTF-8'") from None
        except pd.errors.EmptyDataError:
            raise InputError(
                "the OD matrix file is empty",
                file=path,
                hint="write a header line origin,destination,minutes and one line per pair",
            ) from None
        return
    if fmt == "parquet":
        pq = optional_import("pyarrow.parquet", purpose="reading a Parquet OD matrix")
        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:
            raise InputError(
                f"cannot read this file as Parquet ({type(exc).__name__})",
                file=path,
                field="impedance.path",
                hint="write the matrix with pandas.DataFrame.to_parquet",
            ) from None
        present = [c for c in wanted if c in pf.schema_arrow.names]
        offset = 0
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=present):
            yield offset, _arrow_frame(batch, columns)
            offset += batch.num_rows
        return

    try:
        info = pyogrio.read_info(path, layer=layer)
    except Exception as exc:
        raise InputError(
            f"cannot read this file as geodata ({type(exc).__name__})",
            file=path,
            field="impedance.path",
            hint="give a CSV, Parquet or GeoPackage OD matrix",
        ) from None
    total = int(info["features"])
    present = [c for c in wanted if c in list(info["fields"])]
    for offset in range(0, max(total, 1), chunk_rows):
        frame = pyogrio.read_dataframe(
            path, layer=layer, columns=present, read_geometry=False, skip_features=offset, max_features=chunk_rows
        )
        if offset == 0 or len(frame):
            yield offset, pd.DataFrame(frame)


def _arrow_frame(batch: pa.RecordBatch, columns: dict[str, str]) -> pd.DataFrame:
    """A record batch as a frame: numbers stay numbers (fast path), IDs stay Arrow until needed."""
    pa = optional_import("pyarrow", purpose="reading a Parquet OD matrix")

    data = {}
    for name in batch.schema.names:
        col = batch.column(name)
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_decimal(col.type):
            data[name] = (
                col.to_numpy(zero_copy_only=False).astype(float)
                if name in (columns.get("minutes"), columns.get("km"))
                else col.to_pandas()
            )
        else:
            data[name] = col.to_pandas()
    return pd.DataFrame(data)


def _numbers(frame: pd.DataFrame, column: str, what: str, offset: int, path: Path) -> np.ndarray:
    """The column as floats; InputError at the first missing, non-numeric or negative value."""
    raw = frame[column]
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
        text = None
    else:
        text = raw.astype("string").str.strip()
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values) | (values < 0)
    if not bad.any():
        return values
    i = int(np.flatnonzero(bad)[0])
    row = offset + i + 1
    value = values[i]
    if np.isnan(value):
        shown = None if text is None else text.iloc[i]
        if shown is None or shown is pd.NA or str(shown).lower() in _MISSING_TEXT:
            raise InputError(
                f"{what} is missing",
                file=path,
                row=row,
                field=column,
                hint="every pair needs its travel time or distance; leave pairs out of reach out of the table instead",
            )
        raise InputError(
            f"{what} must be a number, got {str(shown)!r}",
            file=path,
            row=row,
            field=column,
            hint="write plain numbers: '.' as the decimal point, no units",
        )
    if np.isinf(value):
        raise InputError(
            f"{what} is infinite",
            file=path,
            row=row,
            field=column,
            hint="leave pairs out of reach out of the table instead",
        )
    raise InputError(
        f"{what} is negative ({value:g})",
        file=path,
        row=row,
        field=column,
        hint="travel times and distances must be 0 or more",
    )


def _format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz", ".txt")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".gpkg", ".sqlite", ".dbf")):
        return "gpkg"
    raise InputError(
        f"unsupported OD matrix format {path.suffix!r}",
        file=path,
        field="impedance.path",
        hint="give a .csv, .parquet or .gpkg file",
    )


def read_od_matrix(
    path: str | Path,
    *,
    demand_ids: np.ndarray,
    destination_ids: np.ndarray,
    max_minutes: float | None,
    max_km: float | None,
    layer: str | None = None,
    columns: dict[str, str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    check_columns: Callable[[bool, bool], None] | None = None,
) -> ODMatrix:
    """Read the pairs of an OD matrix file that lie within the largest standard.

    Parameters
    ----------
    path
        CSV, Parquet or GeoPackage (attribute table; ``layer`` when it has several).
    demand_ids
        IDs of the demand points (origins).
    destination_ids
        IDs of the candidate sites and existing facilities (destinations); an
        ID may occur once only.
    max_minutes, max_km
        The largest minutes and km standards the matrix serves (``None``: no
        standard of that kind). A row is kept when within either.
    columns
        Canonical name (``origin``, ``destination``, ``minutes``, ``km``) →
        column in the file.
    chunk_rows
        Rows read at a time.
    check_columns
        Called with ``(has_minutes, has_km)`` once the header is read, before
        any row (the scenario checks its standards can be served).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(
            "OD matrix file not found",
            file=path,
            field="impedance.path",
            hint="check the path (relative paths are read from the scenario file's folder)",
        )
    fmt = _format(path)
    mapping = _column_mapping(columns, path)
    dest_index = pd.Index(np.asarray(destination_ids).astype(str))
    demand_index = pd.Index(np.asarray(demand_ids).astype(str))
    kept: list[tuple[np.ndarray, ...]] = []
    has: dict[str, bool] | None = None
    for offset, frame in _chunks(path, fmt, mapping, layer, chunk_rows):
        if has is None:
            has = _header_columns(frame, mapping, path)
            if check_columns is not None:
                check_columns(has["minutes"], has["km"])
        rows = _rows_in_reach(
            frame,
            offset,
            mapping,
            has,
            max_minutes,
            max_km,
            demand_index=demand_index,
            dest_index=dest_index,
            path=path,
        )
        if rows is not None:
            kept.append(rows)
    if has is None:  # pragma: no cover - an empty GeoPackage layer
        raise InputError("the OD matrix file is empty", file=path, hint="one row per (origin, destination) pair")
    if kept:
        o, dd, t, d, rownum = (np.concatenate(x) for x in zip(*kept, strict=False))
    else:
        o = dd = rownum = np.empty(0, np.int64)
        t = d = np.empty(0)
    _check_pairs_once(o, dd, rownum, demand_index, dest_index, mapping, path)
    if not len(o):
        limits = " or ".join(f"{v:g} {u}" for v, u in ((max_minutes, "min"), (max_km, "km")) if v is not None)
        raise InputError(
            f"the OD matrix reaches none of the demand points within the largest standard ({limits})",
            file=path,
            field="impedance.path",
            hint="check that its origins are demand_ids and its times are in minutes (distances in km)",
        )
    return ODMatrix(o, dd, t, d, demand_index, dest_index, source=path, has_minutes=has["minutes"], has_km=has["km"])


def _column_mapping(columns: dict[str, str] | None, path: Path) -> dict[str, str]:
    """Canonical OD column name → column in the file (``columns`` over the canonical names)."""
    mapping = {c: c for c in OD_COLUMNS}
    for key, column in (columns or {}).items():
        if key not in OD_COLUMNS:
            raise InputError(
                f"impedance.columns names {key!r}, which is not an OD matrix column",
                file=path,
                field="impedance.columns",
                hint=f"the OD matrix columns are {list(OD_COLUMNS)}",
            )
        mapping[key] = column
    return mapping


def _header_columns(frame: pd.DataFrame, mapping: dict[str, str], path: Path) -> dict[str, bool]:
    """Check the first chunk has the ID columns and minutes or km; say which of minutes and km it has."""
    for key in ("origin", "destination"):
        if mapping[key] not in frame.columns:
            raise InputError(
                f"required column {mapping[key]!r} is missing from the OD matrix",
                file=path,
                field=mapping[key],
                hint=f"name the {key} column with impedance.columns: {{{key}: <column>}}",
            )
    has = {k: mapping[k] in frame.columns for k in ("minutes", "km")}
    if not any(has.values()):
        raise InputError(
            f"the OD matrix has neither a {mapping['minutes']!r} nor a {mapping['km']!r} column",
            file=path,
            field=mapping["minutes"],
            hint="give travel minutes and/or km, or map them with impedance.columns",
        )
    return has


def _rows_in_reach(
    frame: pd.DataFrame,
    offset: int,
    mapping: dict[str, str],
    has: dict[str, bool],
    max_minutes: float | None,
    max_km: float | None,
    *,
    demand_index: pd.Index,
    dest_index: pd.Index,
    path: Path,
) -> tuple[np.ndarray, ...] | None:
    """One chunk's rows within the largest standard, as (origin, destination, minutes, km, row number).

    ``None`` when no row of the chunk is in reach. Every row's numbers are
    checked; the IDs only of the rows kept.
    """
    n = len(frame)
    t = _numbers(frame, mapping["minutes"], "minutes", offset, path) if has["minutes"] else np.full(n, np.nan)
    d = _numbers(frame, mapping["km"], "km", offset, path) if has["km"] else np.full(n, np.nan)
    keep = np.zeros(n, bool)
    if max_minutes is not None and has["minutes"]:
        keep |= t <= max_minutes + 1e-8
    if max_km is not None and has["km"]:
        keep |= d <= max_km + 1e-6
    idx = np.flatnonzero(keep)
    if not len(idx):
        return None
    origin = frame[mapping["origin"]].iloc[idx].astype(str).str.strip().to_numpy()
    dest = frame[mapping["destination"]].iloc[idx].astype(str).str.strip().to_numpy()
    o_pos = demand_index.get_indexer(origin)
    d_pos = dest_index.get_indexer(dest)
    for pos, ids, key, what in (
        (o_pos, origin, "origin", "a demand point"),
        (d_pos, dest, "destination", "a candidate site or an existing facility"),
    ):
        if (pos < 0).any():
            i = int(np.flatnonzero(pos < 0)[0])
            raise InputError(
                f"{key} {ids[i]!r} is not {what} of the region",
                file=path,
                row=offset + int(idx[i]) + 1,
                field=mapping[key],
                hint=f"use the region's IDs ({'demand_id' if key == 'origin' else 'site_id or facility_id'})",
            )
    return o_pos.astype(np.int64), d_pos.astype(np.int64), t[idx], d[idx], offset + idx + 1


def _check_pairs_once(
    o: np.ndarray,
    dd: np.ndarray,
    rownum: np.ndarray,
    demand_index: pd.Index,
    dest_index: pd.Index,
    mapping: dict[str, str],
    path: Path,
) -> None:
    """InputError at the first (origin, destination) pair given twice among the kept rows."""
    key = o * max(len(dest_index), 1) + dd
    order = np.argsort(key, kind="stable")
    dup = np.flatnonzero(key[order][1:] == key[order][:-1])
    if len(dup):
        first, second = rownum[order][dup[0]], rownum[order][dup[0] + 1]
        raise InputError(
            f"the pair ({demand_index[o[order][dup[0]]]!r}, {dest_index[dd[order][dup[0]]]!r}) is given twice "
            f"(rows {first} and {second})",
            file=path,
            row=int(second),
            field=mapping["origin"],
            hint="keep one row per (origin, destination) pair",
        )


def write_od_matrix(path: str | Path, demand_ids: np.ndarray, target_ids: np.ndarray, pairs: Pairs) -> Path:
    """Save pairs (e.g. computed on a road network) as an OD matrix file that :func:`read_od_matrix` reads back.

    ``.parquet`` is written with pyarrow, anything else as CSV.
    """
    path = Path(path)
    rows, cols, minutes, km = pairs
    frame = pd.DataFrame(
        {
            "origin": np.asarray(demand_ids).astype(str)[rows],
            "destination": np.asarray(target_ids).astype(str)[cols],
            "minutes": minutes,
            "km": km,
        }
    )
    frame = frame.dropna(axis=1, how="all")
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, float_format="%.6f")
    return path
