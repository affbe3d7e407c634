"""The competitors layer: private or competing facilities that capture demand (same format as facilities).

Columns: ``facility_type`` (required, a type of the scenario's catalogue),
``attractiveness`` (optional, a positive number; missing or empty = 1),
``name`` and ``source`` as for existing facilities; ``capacity`` is read
and not used. Competitors need no ``unit_id`` and may lie outside the
region: a private hospital across the border captures demand too. How the
planning model uses them is in :mod:`optimizer.planning.competitors`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from ..errors import InputError
from .files import CSV_SUFFIXES, PARQUET_SUFFIXES
from .layers import read_facilities

#: Default layer of a competitors file with several layers (a GeoPackage).
COMPETITORS_LAYER = "competitors"


def read_competitors(
    path: str | Path,
    *,
    layer: str | None = None,
    columns: Mapping[str, str] | None = None,
    crs: Any = None,
    lon: str | None = None,
    lat: str | None = None,
) -> gpd.GeoDataFrame:
    """Read the competitors layer (the facilities reader; default layer ``competitors``).

    Parameters
    ----------
    path, layer, columns, crs, lon, lat
        As for :func:`optimizer.io.read_facilities`.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``facility_id``; ``facility_type``, ``attractiveness`` (as
        in the file until :func:`check_competitors` parses it), extra columns;
        EPSG:4326. ``attrs['file']`` is the path.
    """
    path = Path(path)
    if layer is None and path.suffix.lower() not in {*CSV_SUFFIXES, *PARQUET_SUFFIXES}:
        layer = COMPETITORS_LAYER
    gdf = read_facilities(path, layer=layer, columns=columns, crs=crs, lon=lon, lat=lat)
    gdf.attrs["file"] = path
    gdf.attrs["attractiveness_column"] = (columns or {}).get("attractiveness", "attractiveness")
    return gdf


def _where(competitors: gpd.GeoDataFrame, pos: int) -> int | str:
    """The row of record ``pos``: 1-based data row in a file, the ID for a layer built in code."""
    return pos + 1 if competitors.attrs.get("file") is not None else str(competitors.index[pos])


def check_competitors(competitors: gpd.GeoDataFrame, type_ids: list[str]) -> gpd.GeoDataFrame:
    """Validate the competitors against the catalogue's types; return them with ``attractiveness`` as floats.

    Competitors of a catalogue type the scenario does not plan (``types:``) are
    accepted and play no part.

    Parameters
    ----------
    competitors
        From :func:`read_competitors`, or a GeoDataFrame built in code (EPSG:4326,
        ``facility_type`` column, optional ``attractiveness``).
    type_ids
        Every facility type of the scenario's catalogue, planned or not.

    Raises
    ------
    InputError
        A type the catalogue does not have, or an attractiveness that is not a
        positive number; naming the file, row and field.
    """
    file = competitors.attrs.get("file")
    prefix = "" if file is not None else "competitors layer: "
    if "facility_type" not in competitors:
        raise InputError(
            prefix + "the competitors have no facility_type column",
            file=file,
            field="facility_type",
            hint="give every competitor the facility type it competes with, e.g. hospital",
        )
    known = set(type_ids)
    types = competitors["facility_type"].astype(str).to_numpy()
    for pos, type_id in enumerate(types.tolist()):
        if type_id not in known:
            raise InputError(
                f"{prefix}competitor {str(competitors.index[pos])!r} has facility_type {type_id!r}, "
                "which the catalogue does not have",
                file=file,
                row=_where(competitors, pos),
                field="facility_type",
                hint=f"use one of the catalogue's types ({', '.join(sorted(known))}), or remove the row",
            )
    out = competitors.copy()
    out["attractiveness"] = _attractiveness(competitors, prefix, file)
    return out


def _attractiveness(competitors: gpd.GeoDataFrame, prefix: str, file: Path | None) -> np.ndarray:
    """The ``attractiveness`` column as positive floats (1 where the column or the cell is empty)."""
    if "attractiveness" not in competitors:
        return np.ones(len(competitors))
    column = str(competitors.attrs.get("attractiveness_column", "attractiveness"))
    values = np.ones(len(competitors))
    for pos, raw in enumerate(competitors["attractiveness"].tolist()):
        if raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, float) and math.isnan(raw)):
            continue
        try:
            value = float(raw) if not isinstance(raw, bool) else math.nan
        except (TypeError, ValueError):
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise InputError(
                f"{prefix}attractiveness must be a positive number, got {raw!r}",
                file=file,
                row=_where(competitors, pos),
                field=column,
                hint="e.g. 1 for an ordinary facility, 2 for one twice as attractive; leave the cell empty for 1",
            )
        values[pos] = value
    return values
