"""Impedance: how far demand is from sites and facilities — straight line, OD matrix or road network.

Data flow: config → region → scenario → **impedance** → model → evaluation.
Every impedance answers with the same sparse product, ``(rows, cols,
minutes, km)`` pairs (:data:`~optimizer.impedance.base.Pairs`), so the
planning model, the evaluation and the classic models use any of them alike.

A scenario chooses its impedance with the ``impedance`` key (docs/scenario.md),
optionally a different one per facility type (``impedance.by_type``);
:func:`impedance_for` builds it (once per scenario and specification).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from pyproj import CRS

from ..config.schema import ImpedanceSpec
from ..datum import planar_xy
from ..errors import ConfigError, InputError
from .base import EMPTY_PAIRS, Impedance, Pairs, Points, StraightLine, standard_limits
from .network import (
    DEFAULT_SPEEDS_KMH,
    NetworkImpedance,
    RoadNetwork,
    read_network,
    read_osm_pbf,
    read_road_layer,
)
from .od_matrix import ODMatrix, read_od_matrix, write_od_matrix
from .terrain import TerrainImpedance, read_relief, terrain_impedance

if TYPE_CHECKING:  # the scenario comes before the impedance in the data flow; only its type is needed here
    import geopandas as gpd

    from ..scenario import Scenario

__all__ = [
    "Impedance",
    "StraightLine",
    "ODMatrix",
    "NetworkImpedance",
    "TerrainImpedance",
    "read_relief",
    "RoadNetwork",
    "Points",
    "Pairs",
    "EMPTY_PAIRS",
    "DEFAULT_SPEEDS_KMH",
    "standard_limits",
    "read_od_matrix",
    "write_od_matrix",
    "read_network",
    "read_osm_pbf",
    "read_road_layer",
    "impedance_for",
    "spec_for",
    "demand_points",
    "site_points",
    "facility_points",
    "cost_matrix",
    "competitor_points",
]


def spec_for(scenario: Scenario, type_id: str) -> ImpedanceSpec:
    """The impedance specification facility type ``type_id`` uses: its ``by_type`` entry, else the scenario's."""
    cfg = scenario.impedance
    return cfg.by_type.get(type_id, cfg)


def _spec_key(spec: ImpedanceSpec) -> str:
    data = spec.model_dump(mode="json")
    data.pop("by_type", None)
    return json.dumps(data, sort_keys=True)


def demand_points(scenario: Scenario) -> Points:
    """The scenario's demand points (IDs and planar coordinates)."""
    region = scenario.region
    return Points(region.demand.index.astype(str).to_numpy(), planar_xy(region.demand, region.projected_crs))


def site_points(scenario: Scenario) -> Points:
    """The scenario's candidate sites."""
    region = scenario.region
    return Points(region.candidates.index.astype(str).to_numpy(), planar_xy(region.candidates, region.projected_crs))


def facility_points(scenario: Scenario, facilities: gpd.GeoDataFrame | None = None) -> Points:
    """Existing facilities (or the given layout): a planned facility is reached as its ``site_id``."""
    region = scenario.region
    fac = region.facilities if facilities is None else facilities
    ids = fac.index.astype(str).to_numpy().copy()
    if "site_id" in fac:
        site = fac["site_id"]
        has = site.notna().to_numpy()
        ids[has] = site[has].astype(str).to_numpy()
    return Points(ids, planar_xy(fac, region.projected_crs))


def _largest_limits(scenario: Scenario, spec_key: str) -> tuple[float | None, float | None]:
    """Largest minutes and km the types using this specification need (standards, access cap)."""
    minutes: list[float] = []
    km: list[float] = []
    for type_id, ftype in scenario.catalogue.items():
        if _spec_key(spec_for(scenario, type_id)) != spec_key:
            continue
        for std in (ftype.urban, ftype.rural):
            (minutes.append(std.minutes) if std.minutes is not None else km.append(std.distance_km))
        if scenario.objective.measures_access():
            cap = scenario.objective.access_cap_km
            km.append(cap if cap else 3.0 * ftype.rural.radius_m() / 1000.0)
            if scenario.objective.kind == "kolm_pollak":  # over travel time: the cap in minutes at each speed
                speed = scenario.objective.equity.speed_kmh
                minutes.extend(km[-1] * 60.0 / (std.speed_kmh or speed) for std in (ftype.urban, ftype.rural))
        if scenario.objective.kind == "attendance" and scenario.objective.attendance.cutoff_km:
            km.append(scenario.objective.attendance.cutoff_km)
    return (max(minutes) if minutes else None), (max(km) if km else None)


def _check_units(scenario: Scenario, has_minutes: bool, has_km: bool, spec_key: str) -> None:
    """A matrix without minutes cannot serve a minutes standard (nor one without km a km standard)."""
    for type_id, ftype in scenario.catalogue.items():
        if _spec_key(spec_for(scenario, type_id)) != spec_key:
            continue
        for std in (ftype.urban, ftype.rural):
            missing = (
                "minutes"
                if std.minutes is not None and not has_minutes
                else ("km" if std.distance_km is not None and not has_km else None)
            )
            if missing:
                where = f"impedance.by_type.{type_id}" if type_id in scenario.impedance.by_type else "impedance"
                raise ConfigError(
                    f"facility type {type_id!r} has a standard in {missing}, but its OD matrix has no {missing} column",
                    file=scenario.source_path,
                    field=f"{where}.columns",
                    hint=f"add a {missing} column to the matrix (or map it with impedance.columns), or give the "
                    f"type a standard in {'km' if missing == 'minutes' else 'minutes'}",
                )
        kp_minutes = scenario.objective.kind == "kolm_pollak" and has_minutes  # KP over time reads the minutes
        if scenario.objective.measures_access() and not has_km and not kp_minutes:
            raise ConfigError(
                f"the access objective measures km, but the OD matrix for {type_id!r} has no km column",
                file=scenario.source_path,
                field="impedance.columns",
                hint="add a km column to the matrix, or use another objective",
            )
        if scenario.objective.kind == "attendance" and scenario.objective.attendance.cutoff_km and not has_km:
            raise ConfigError(
                f"attendance.cutoff_km is in km, but the OD matrix for {type_id!r} has no km column",
                file=scenario.source_path,
                field="objective.attendance.cutoff_km",
                hint="add a km column to the matrix, or leave cutoff_km out: attendance then falls to 0 at each "
                "type's standard, in the standard's minutes",
            )


def competitor_points(scenario: Scenario) -> Points:
    """The scenario's competitor facilities (empty without a competitors layer), reached like facilities.

    An OD matrix reaches them by their ``facility_id`` as destinations (a
    competitor without pairs in the matrix is out of reach); a road network
    joins them at their nearest node, like every point.
    """
    comp = scenario.competitors
    if comp is None or len(comp) == 0:
        return Points(np.empty(0, dtype=object), np.empty((0, 2)))
    return Points(comp.index.astype(str).to_numpy(), planar_xy(comp, scenario.region.projected_crs))


def _competitor_destinations(scenario: Scenario, destinations: np.ndarray, path: Path) -> np.ndarray:
    """Competitor IDs, destinations of the OD matrix beside sites and facilities (an ID may mean one only)."""
    comp = scenario.competitors
    if comp is None or len(comp) == 0:
        return np.empty(0, dtype=object)
    ids = comp.index.astype(str).to_numpy()
    clash = np.isin(ids, destinations)
    if clash.any():
        raise InputError(
            f"ID {ids[clash][0]!r} is both a competitor and a candidate site or existing facility, so the OD "
            "matrix cannot tell which it means",
            file=path,
            field="destination",
            hint="give competitors IDs distinct from those of the candidate sites and existing facilities",
        )
    return ids


def impedance_for(scenario: Scenario, type_id: str) -> Impedance:
    """The impedance facility type ``type_id`` is planned with, built once per scenario and specification."""
    spec = spec_for(scenario, type_id)
    if spec.kind == "straight_line":
        return StraightLine()
    cache: dict[str, Impedance] = scenario.__dict__.setdefault("_impedance_cache", {})
    key = _spec_key(spec)
    if key in cache:
        return cache[key]
    region = scenario.region
    if spec.kind == "terrain":  # the relief under each demand point (optimizer/impedance/terrain.py)
        imp_terrain = terrain_impedance(
            spec, planar_xy(region.demand, CRS.from_epsg(4326)), region.demand.index.astype(str).to_numpy()
        )
        cache[key] = imp_terrain
        return imp_terrain
    assert spec.path is not None  # the schema requires a path for every kind but straight_line
    if spec.kind == "od_matrix":
        max_minutes, max_km = _largest_limits(scenario, key)
        destinations = np.concatenate(
            [region.candidates.index.astype(str).to_numpy(), region.facilities.index.astype(str).to_numpy()]
        )
        uniq, counts = np.unique(destinations, return_counts=True)
        if (counts > 1).any():
            raise InputError(
                f"ID {uniq[counts > 1][0]!r} is both a candidate site and an existing facility, so the OD matrix "
                "cannot tell which it means",
                file=spec.path,
                field="destination",
                hint="give candidate sites and existing facilities distinct IDs",
            )
        destinations = np.concatenate([destinations, _competitor_destinations(scenario, destinations, spec.path)])
        imp: Impedance = read_od_matrix(
            spec.path,
            demand_ids=region.demand.index.astype(str).to_numpy(),
            destination_ids=destinations,
            max_minutes=max_minutes,
            max_km=max_km,
            layer=spec.layer,
            columns=spec.columns,
            check_columns=lambda has_min, has_km: _check_units(scenario, has_min, has_km, key),
        )
    else:
        network = read_network(
            spec.path,
            region.projected_crs,
            layer=spec.layer,
            columns=spec.columns,
            speeds=spec.speeds,
            use_maxspeed=spec.use_maxspeed,
        )
        imp = NetworkImpedance(network, access_speed_kmh=spec.access_speed_kmh)
    cache[key] = imp
    return imp


def cost_matrix(
    scenario: Scenario, type_id: str, *, to: str = "candidates", metric: str = "minutes", limit: float | None = None
) -> sp.csr_array:
    """Sparse demand × targets matrix of the scenario's impedance, for the classic models.

    Stored entries are the pairs in reach (within ``limit``, default the
    type's largest standard), valued in ``metric`` (``minutes`` or ``km``):
    the form :meth:`optimizer.locate.MCLP.from_cost_matrix` and
    :meth:`optimizer.locate.LSCP.from_cost_matrix` read (missing entries =
    out of reach, explicit zeros = distance 0). ``to`` is ``candidates`` or
    ``facilities``.
    """
    if metric not in ("minutes", "km"):
        raise ValueError("metric must be 'minutes' or 'km'")
    ftype = scenario.catalogue[type_id]
    imp = impedance_for(scenario, type_id)
    demand = demand_points(scenario)
    targets = site_points(scenario) if to == "candidates" else facility_points(scenario)
    if limit is None:
        rows, cols, minutes, km = imp.reach(ftype.urban, ftype.rural, _urban(scenario), demand, targets)
    else:
        lim = np.full(len(demand), float(limit))
        if isinstance(imp, StraightLine) and metric == "minutes":
            raise ValueError("a straight line has no minutes of its own: use metric='km'")
        rows, cols, minutes, km = imp.pairs(
            demand, targets, lim if metric == "minutes" else None, lim if metric == "km" else None
        )
    value = minutes if metric == "minutes" else km
    ok = np.isfinite(value)
    return sp.csr_array((value[ok], (rows[ok], cols[ok])), shape=(len(demand), len(targets)))


def _urban(scenario: Scenario) -> np.ndarray:
    demand = scenario.region.demand
    return demand["urban"].to_numpy(dtype=bool) if "urban" in demand else np.zeros(len(demand), bool)
