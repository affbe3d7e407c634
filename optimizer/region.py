"""The region being planned: admin units, demand, existing facilities, candidate sites.

A :class:`Region` is plain data — four GeoDataFrames in WGS-84 (EPSG:4326)
with the canonical columns documented in ``docs/data-format.md`` — plus the
projected CRS used for every distance and area. Build one with
:func:`optimizer.io.load_region` (from files) or directly from GeoDataFrames
with :meth:`Region.from_geodataframes`, which validates them the same way.

Canonical layers (index name → columns):

``admin_units`` (``unit_id``)
    ``name``, ``name_en``, ``level``, ``parent_id`` (``None`` at the top),
    geometry (polygon, or empty for units known only by name, e.g. townships
    without a boundary); any extra columns (``population``, group flags such
    as ``mountain26``) are kept.
``demand`` (``demand_id``)
    ``unit_id`` (the finest admin unit the point belongs to), ``population``
    (all residents), optional ``pop_<group>`` columns (e.g.
    ``pop_school_age``, ``pop_elderly``), ``urban`` (bool), point geometry.
``facilities`` (``facility_id``)
    ``facility_type``, ``unit_id``, ``capacity`` (NaN = unlimited), ``name``,
    ``source`` (e.g. ``"assumed"`` for illustrative rows), point geometry.
``candidates`` (``site_id``)
    ``unit_id``, ``kind`` (e.g. ``county_seat``, ``township_seat``,
    ``grid``), point geometry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from .booleans import ACCEPTED, INVALID, is_yes_no, parse_yes_no
from .datum import WGS84  # re-exported: listed in __all__
from .errors import ConfigError, InputError
from .io.columns import _located
from .io.layers import load_region_layers, region_layers_from_geodataframes

__all__ = [
    "Region",
    "WGS84",
    "has_boundary",
    "finest_units",
    "finest_levels",
    "unit_group_columns",
    "group_members",
    "ancestor_chains",
]


#: Columns of the admin units that are never groups.
_UNIT_COLUMNS = ("name", "name_en", "level", "parent_id")


# ----------------------------------------------------------------------------- the admin hierarchy
def has_boundary(admin_units: gpd.GeoDataFrame) -> pd.Series:
    """Whether each admin unit has a boundary (a non-empty polygon)."""
    return pd.Series(_located(admin_units.geometry), index=admin_units.index)


def _parent_of(admin_units: pd.DataFrame) -> dict[str, str | None]:
    if "parent_id" not in admin_units:
        return {}
    return {str(uid): (p if isinstance(p, str) and p else None) for uid, p in admin_units["parent_id"].items()}


def _chain(parent: dict[str, str | None], unit_id: str) -> list[str]:
    """``unit_id`` followed by its parent, grandparent, … up to the top (a cycle stops the walk)."""
    chain, seen = [unit_id], {unit_id}
    while True:
        p = parent.get(chain[-1])
        if p is None or p in seen:
            return chain
        chain.append(p)
        seen.add(p)


def ancestor_chains(admin_units: pd.DataFrame) -> dict[str, list[str]]:
    """For every unit: itself, its parent, grandparent, … up to the top."""
    parent = _parent_of(admin_units)
    return {uid: _chain(parent, uid) for uid in admin_units.index.astype(str)}


def finest_units(admin_units: gpd.GeoDataFrame) -> list[str]:
    """The finest units with a boundary: those none of whose children has one.

    In Zhejiang these are the 90 county-level units (townships have no
    boundary); where some counties have township polygons, those townships
    and the other counties. Without any boundary, the units without children.
    """
    ids = admin_units.index.astype(str)
    parent = _parent_of(admin_units)
    bounded = has_boundary(admin_units).to_numpy()
    if not bounded.any():
        bounded = np.ones(len(ids), bool)
    with_bounded_child = {parent.get(u) for u, b in zip(ids, bounded, strict=False) if b}
    return [u for u, b in zip(ids, bounded, strict=False) if b and u not in with_bounded_child]


def finest_levels(admin_units: gpd.GeoDataFrame) -> list[str]:
    """The levels of :func:`finest_units`, in order of first appearance — e.g. ``[township, county]``."""
    levels = admin_units["level"]
    return list(dict.fromkeys(levels.loc[finest_units(admin_units)].astype(str)))


def group_members(admin_units: pd.DataFrame, column: str, *, file: Path | None = None) -> pd.Series:
    """Which units belong to the group of yes/no ``column``: the unit or a unit containing it says yes.

    A township of a mountain county is in the mountain group, whatever its
    own cell says; a blank cell means "no" for the unit itself. A value that
    is not yes/no is an :class:`~optimizer.errors.InputError` naming the
    file (``file``), the row (or the unit's ID) and the column.
    """
    own: dict[str, bool] = {}
    for pos, (uid, value) in enumerate(admin_units[column].items()):
        flag = parse_yes_no(value)
        if flag is INVALID:
            raise InputError(
                f"{column} must be yes or no, got {value!r}",
                file=file,
                row=pos + 1 if file is not None else str(uid),
                field=str(column),
                hint=f"use {ACCEPTED} in every row of the group column (an empty cell means no)",
            )
        own[str(uid)] = flag is True
    chains = ancestor_chains(admin_units)
    return pd.Series(
        [any(own.get(a, False) for a in chains[u]) for u in admin_units.index.astype(str)],
        index=admin_units.index,
        dtype=bool,
    )


def unit_group_columns(admin_units: gpd.GeoDataFrame) -> list[str]:
    """The admin-unit columns that name groups (e.g. ``mountain26``): the one rule for model, tables, report, maps.

    A column is a group when every value is yes/no or blank (see
    :mod:`optimizer.booleans`) and its group holds some, not all, of the
    :func:`finest_units` (``has_seat``, true for every county, is an
    attribute, not a group).
    """
    finest = finest_units(admin_units)
    geometry = admin_units.geometry.name if isinstance(admin_units, gpd.GeoDataFrame) else None
    groups = []
    for c in admin_units.columns:
        if c == geometry or c in _UNIT_COLUMNS or not is_yes_no(admin_units[c].tolist()):
            continue
        members = group_members(admin_units, c)
        n = int(members.loc[finest].sum())
        if 0 < n < len(finest):
            groups.append(str(c))
    return groups


@dataclass
class Region:
    """A region ready for planning. All layers are in EPSG:4326.

    Attributes
    ----------
    name
        Human-readable name, e.g. ``"Zhejiang"``.
    admin_units, demand, facilities, candidates
        The four canonical layers (see module docstring).
    projected_crs
        Metric CRS used for all distances and areas.
    files
        The files each layer was read from (for provenance manifests).
    """

    name: str
    admin_units: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    projected_crs: CRS
    files: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def from_geodataframes(cls, **layers: Any) -> Region:
        """Validate GeoDataFrames built in code and return a :class:`Region`.

        Takes the same keywords as :func:`optimizer.io.region_from_geodataframes`.
        """

        return region_from_geodataframes(**layers)

    # ------------------------------------------------------------------ hierarchy
    def ancestors(self, unit_id: str) -> list[str]:
        """``unit_id`` followed by its parent, grandparent, … up to the top."""
        return _chain(_parent_of(self.admin_units), unit_id)

    def ancestors_of(self, unit_ids: Iterable[str]) -> dict[str, list[str]]:
        """:meth:`ancestors` of each of ``unit_ids``, reading the hierarchy once."""
        parent = _parent_of(self.admin_units)
        return {uid: _chain(parent, uid) for uid in dict.fromkeys(unit_ids)}

    def group_members(self, column: str) -> pd.Series:
        """:func:`group_members` of this region's admin units (errors name the admin-units file)."""
        return group_members(self.admin_units, column, file=self.files.get("admin_units"))

    def demand_in_group(self, column: str) -> np.ndarray:
        """Whether each demand point lies in the group of ``column`` (its unit or one containing it says yes)."""
        members = self.group_members(column)
        return self.demand["unit_id"].astype(str).map(members).fillna(False).to_numpy(dtype=bool)

    def urban_flags(self) -> np.ndarray:
        """The demand layer's ``urban`` column as booleans (all false without the column).

        Parsed, not cast: a text ``"no"`` is false (the loader already does
        this for files; this covers layers built in code).
        """
        demand = self.demand
        if "urban" not in demand:
            return np.zeros(len(demand), bool)
        column = demand["urban"]
        if pd.api.types.is_bool_dtype(column):
            return column.to_numpy(dtype=bool)
        out = np.zeros(len(demand), bool)
        file = self.files.get("demand")
        for pos, (did, value) in enumerate(column.items()):
            flag = parse_yes_no(value, extra_true=("urban",), extra_false=("rural",))
            if flag is INVALID or flag is None:
                raise InputError(
                    f"urban must be true or false, got {value!r}",
                    file=file,
                    row=pos + 1 if file is not None else str(did),
                    field="urban",
                    hint=f"use {ACCEPTED} or urban/rural (or leave the column out: every point is then rural)",
                )
            out[pos] = flag
        return out

    def unit_membership(self, unit_ids: pd.Series) -> pd.DataFrame:
        """Long table ``(row, unit_id)``: every unit each row belongs to, ancestors included.

        ``unit_ids`` holds each record's finest unit; the result lists that
        unit and all of its ancestors, so aggregating over it gives totals for
        every level at once.
        """
        cache: dict[str, list[str]] = {}
        rows: list[int] = []
        units: list[str] = []
        parent = _parent_of(self.admin_units)
        for pos, uid in enumerate(unit_ids.to_numpy()):
            if uid not in cache:
                cache[uid] = _chain(parent, uid)
            chain = cache[uid]
            rows.extend([pos] * len(chain))
            units.extend(chain)
        return pd.DataFrame({"row": np.asarray(rows, dtype=np.int64), "unit_id": units})

    def units_at_level(self, level: str) -> gpd.GeoDataFrame:
        """Admin units whose ``level`` equals ``level``."""
        return self.admin_units[self.admin_units["level"] == level]

    @property
    def levels(self) -> list[str]:
        """The admin levels present, in order of first appearance."""
        return list(dict.fromkeys(self.admin_units["level"]))

    def population_groups(self) -> list[str]:
        """Population groups available in ``demand``: ``all`` plus each ``pop_<group>`` column."""
        return ["all"] + [c[4:] for c in self.demand.columns if c.startswith("pop_")]

    def group_population(self, group: str) -> np.ndarray:
        """Population of ``group`` at each demand point (``all`` = every resident)."""
        column = "population" if group == "all" else f"pop_{group}"
        if column not in self.demand.columns:
            raise ConfigError(
                f"population group {group!r} has no column {column!r} in the demand layer",
                file=self.files.get("demand"),
                field=column,
                hint=f"add a {column!r} column or use one of {self.population_groups()}",
            )
        return self.demand[column].to_numpy(dtype=float)

    def summary(self) -> dict:
        """Headline counts and totals, for the terminal and reports."""
        units = self.admin_units
        return {
            "name": self.name,
            "admin_units": {lvl: int((units["level"] == lvl).sum()) for lvl in self.levels},
            "demand_points": int(len(self.demand)),
            "population": int(round(float(self.demand["population"].sum()))),
            "existing_facilities": {
                str(k): int(v) for k, v in self.facilities["facility_type"].value_counts().sort_index().items()
            },
            "candidate_sites": int(len(self.candidates)),
            "projected_crs": self.projected_crs.to_string(),
        }


def load_region(*args: Any, **kwargs: Any) -> Region:
    """Read a region's layers from files, check them together, and return a :class:`Region`.

    Takes the arguments of :func:`optimizer.io.layers.load_region_layers`.
    """
    return Region(**load_region_layers(*args, **kwargs))


def region_from_geodataframes(*args: Any, **kwargs: Any) -> Region:
    """Validate GeoDataFrames built in code exactly like files, and return a :class:`Region`.

    Takes the arguments of :func:`optimizer.io.layers.region_layers_from_geodataframes`.
    """
    return Region(**region_layers_from_geodataframes(*args, **kwargs))
