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

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

__all__ = ["Region", "WGS84"]

WGS84 = CRS.from_epsg(4326)


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
    def from_geodataframes(cls, **layers) -> "Region":
        """Validate GeoDataFrames built in code and return a :class:`Region`.

        Takes the same keywords as :func:`optimizer.io.region_from_geodataframes`.
        """
        from .io import region_from_geodataframes

        return region_from_geodataframes(**layers)

    # ------------------------------------------------------------------ hierarchy
    def ancestors(self, unit_id: str) -> list[str]:
        """``unit_id`` followed by its parent, grandparent, … up to the top."""
        parent = self.admin_units["parent_id"]
        chain = [unit_id]
        seen = {unit_id}
        while True:
            p = parent.get(chain[-1])
            if p is None or (isinstance(p, float) and np.isnan(p)) or p == "" or p in seen:
                return chain
            chain.append(p)
            seen.add(p)

    def unit_membership(self, unit_ids: pd.Series) -> pd.DataFrame:
        """Long table ``(row, unit_id)``: every unit each row belongs to, ancestors included.

        ``unit_ids`` holds each record's finest unit; the result lists that
        unit and all of its ancestors, so aggregating over it gives totals for
        every level at once.
        """
        cache: dict[str, list[str]] = {}
        rows: list[int] = []
        units: list[str] = []
        for pos, uid in enumerate(unit_ids.to_numpy()):
            if uid not in cache:
                cache[uid] = self.ancestors(uid)
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
            from .errors import ConfigError

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

