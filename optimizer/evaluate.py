"""Before/after evaluation of a facility layout, independent of the model.

Given any set of facilities (the existing ones, or existing + a plan's new
ones) these functions compute, per facility type, how many people of the
type's population group are served within its service standard — by
admin unit, by group of units (e.g. the 26 mountain counties vs the rest) —
and whether each unit meets its standards. The numbers are computed from
geometry alone, not read back from the optimisation model, so they also
check the model.

Without capacity a person is served when a facility of the type lies within
the standard. With capacity, served population is the maximum that can be
assigned to facilities within the standard without exceeding any capacity (a
transportation LP, solved with HiGHS through SciPy); the total is unique, the
split between units is one optimal assignment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linprog

from .catalogue import FacilityType
from .datum import planar_xy
from .errors import SolverError
from .impedance import Points, facility_points, impedance_for
from .impedance.compare import nearest_time
from .impedance.straight_line import coverage_pairs

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from .scenario import Scenario

__all__ = [
    "Layout",
    "served_population",
    "evaluate_layout",
    "coverage_by_unit",
    "coverage_by_type",
    "standards_status",
    "group_gap",
    "newly_covered",
]


@dataclass
class Layout:
    """Per-demand-point results of one facility layout.

    ``served[type_id]`` — people of the type's group served at each demand
    point; ``nearest_km[type_id]`` — km to the nearest facility of the type
    by the type's impedance: straight line, shortest network route, or the OD
    matrix's km among its pairs within the largest standard (``inf`` if there
    is none, or the matrix has no km; terrain: straight km × the point's
    terrain detour); ``nearest_minutes[type_id]`` — minutes to the quickest
    facility of the type (:func:`optimizer.impedance.compare.nearest_time`:
    network or matrix minutes, or those a straight-line standard in minutes
    implies; NaN where there are none).
    """

    served: dict[str, np.ndarray]
    nearest_km: dict[str, np.ndarray]
    nearest_minutes: dict[str, np.ndarray] = field(default_factory=dict)


def served_population(
    demand_xy: np.ndarray,
    population: np.ndarray,
    radius: np.ndarray,
    facility_xy: np.ndarray,
    capacity: np.ndarray | None = None,
    pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """People served at each demand point by facilities of one type.

    Parameters
    ----------
    demand_xy, facility_xy
        Planar coordinates (metres).
    population
        People of the type's group at each demand point.
    radius
        Service radius (metres) of each demand point.
    capacity
        People each facility can serve (``None`` or all-NaN = unlimited;
        NaN entries mean unlimited for that facility).
    pairs
        ``(rows, cols)`` of the (demand, facility) pairs within the standard,
        from the scenario's impedance; default: straight-line pairs within
        ``radius``.
    """
    n = len(population)
    population = np.asarray(population, dtype=float)
    if len(facility_xy) == 0:
        return np.zeros(n)
    if capacity is None or np.all(np.isnan(capacity)):
        # Same coverage predicate as the model (coverage_pairs / Impedance.reach), so the two agree on boundaries.
        rows = coverage_pairs(demand_xy, facility_xy, radius)[0] if pairs is None else pairs[0]
        reached = np.zeros(n, bool)
        reached[rows] = True
        return np.where(reached, population, 0.0)
    capacity = np.asarray(capacity, dtype=float)
    rows, cols = coverage_pairs(demand_xy, facility_xy, radius)[:2] if pairs is None else pairs
    keep = population[rows] > 0
    rows, cols = rows[keep], cols[keep]
    if len(rows) == 0:
        return np.zeros(n)
    unlimited = np.isnan(capacity)
    # People in reach of an unlimited facility are served outright.
    free = np.zeros(n, bool)
    free[rows[unlimited[cols]]] = True
    limited = ~free[rows] & ~unlimited[cols]
    rows, cols = rows[limited], cols[limited]
    served = np.where(free, population, 0.0)
    if len(rows) == 0:
        return served
    n_pairs = len(rows)
    ui, r_idx = np.unique(rows, return_inverse=True)
    uf, c_idx = np.unique(cols, return_inverse=True)
    a_demand = sp.csr_array((np.ones(n_pairs), (r_idx, np.arange(n_pairs))), shape=(len(ui), n_pairs))
    a_fac = sp.csr_array((population[rows], (c_idx, np.arange(n_pairs))), shape=(len(uf), n_pairs))
    res = linprog(
        c=-population[rows],
        A_ub=sp.vstack([a_demand, a_fac]).tocsc(),
        b_ub=np.concatenate([np.ones(len(ui)), capacity[uf]]),
        bounds=(0, 1),
        method="highs",
    )
    if res.status != 0:  # pragma: no cover - a bounded, feasible LP
        raise SolverError(
            f"capacity assignment LP failed: {res.message}",
            hint="this is a bug in regionopt; report it with the scenario",
        )
    share = np.bincount(r_idx, weights=res.x, minlength=len(ui))
    served[ui] += population[ui] * np.clip(share, 0.0, 1.0)
    return served


def evaluate_layout(scenario: Scenario, facilities: gpd.GeoDataFrame) -> Layout:
    """Serve the scenario's demand from ``facilities`` (a GeoDataFrame with
    ``facility_type`` and optionally ``capacity``) for every planned type."""
    region = scenario.region
    crs = region.projected_crs
    demand_xy = planar_xy(region.demand, crs)
    urban = region.urban_flags()
    fac_xy = planar_xy(facilities, crs)
    fac_types = facilities["facility_type"].astype(str).to_numpy()
    fac_cap = (
        facilities["capacity"].to_numpy(dtype=float) if "capacity" in facilities else np.full(len(facilities), np.nan)
    )
    demand = Points(region.demand.index.astype(str).to_numpy(), demand_xy)
    fac_points = facility_points(scenario, facilities)  # a planned facility is reached as its site
    served: dict[str, np.ndarray] = {}
    nearest: dict[str, np.ndarray] = {}
    minutes: dict[str, np.ndarray] = {}
    for type_id, ftype in scenario.catalogue.items():
        mask = fac_types == type_id
        xy = fac_xy[mask]
        cap = None
        if ftype.capacity is not None:
            cap = np.where(np.isnan(fac_cap[mask]), ftype.capacity, fac_cap[mask])
        pop = region.group_population(ftype.serves)
        impedance = impedance_for(scenario, type_id)
        targets = fac_points.subset(mask)
        rows, cols, _, _ = impedance.reach(ftype.urban, ftype.rural, urban, demand, targets)
        served[type_id] = served_population(demand_xy, pop, ftype.radius_m(urban), xy, cap, pairs=(rows, cols))
        # Straight-line (terrain-adjusted) km, or km along the network / in the matrix (inf: none in reach).
        nearest[type_id] = impedance.nearest_km(demand, targets)
        minutes[type_id] = nearest_time(scenario, type_id, demand, targets, nearest[type_id])
    return Layout(served, nearest, minutes)


def _demand_membership(scenario: Scenario) -> pd.DataFrame:
    region = scenario.region
    return region.unit_membership(region.demand["unit_id"].astype(str))


def coverage_by_unit(
    scenario: Scenario, before: Layout, after: Layout, membership: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Population-weighted coverage per admin unit and facility type, before and after.

    One row per (unit, type) for every unit with demand in it, at every level
    (a county's figures include its townships; a city's its counties).
    """
    region = scenario.region
    membership = _demand_membership(scenario) if membership is None else membership
    units = region.admin_units
    frames = []
    rows = membership["row"].to_numpy()
    for type_id, ftype in scenario.catalogue.items():
        pop = region.group_population(ftype.serves)
        df = pd.DataFrame(
            {
                "unit_id": membership["unit_id"].to_numpy(),
                "population": pop[rows],
                "covered_before": before.served[type_id][rows],
                "covered_after": after.served[type_id][rows],
            }
        )
        agg = df.groupby("unit_id", sort=False).sum()
        agg["facility_type"] = type_id
        agg["family"] = ftype.family
        agg["group"] = ftype.serves
        frames.append(agg.reset_index())
    out = pd.concat(frames, ignore_index=True)
    out["rate_before"] = np.where(
        out["population"] > 0, out["covered_before"] / out["population"].where(out["population"] > 0, 1), np.nan
    )
    out["rate_after"] = np.where(
        out["population"] > 0, out["covered_after"] / out["population"].where(out["population"] > 0, 1), np.nan
    )
    info = units.loc[out["unit_id"], ["name", "name_en", "level", "parent_id"]].reset_index(drop=True)
    out = pd.concat([out[["unit_id"]], info, out.drop(columns=["unit_id"])], axis=1)
    order = {lvl: i for i, lvl in enumerate(region.levels)}
    out = out.sort_values(
        ["facility_type", "level", "unit_id"], key=lambda s: s.map(order) if s.name == "level" else s, kind="stable"
    )
    return out.reset_index(drop=True)


def coverage_by_type(scenario: Scenario, before: Layout, after: Layout) -> pd.DataFrame:
    """Totals per facility type: population of its group, covered before/after, rates."""
    region = scenario.region
    rows = []
    for type_id, ftype in scenario.catalogue.items():
        pop = region.group_population(ftype.serves)
        total = float(pop.sum())
        b = float(before.served[type_id].sum())
        a = float(after.served[type_id].sum())
        rows.append(
            {
                "facility_type": type_id,
                "name_en": ftype.name_en,
                "name_zh": ftype.name_zh,
                "family": ftype.family,
                "group": ftype.serves,
                "standard": ftype.describe_standard(),
                "population": total,
                "covered_before": b,
                "covered_after": a,
                "newly_covered": a - b,
                "rate_before": b / total if total else np.nan,
                "rate_after": a / total if total else np.nan,
            }
        )
    return pd.DataFrame(rows)


def standards_status(
    scenario: Scenario, facilities_before: gpd.GeoDataFrame, facilities_after: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Each standard (unit, required type): required count, have before/after, status.

    ``status`` is ``met`` (met before and after), ``newly met``, or ``not met``;
    ``eligible_sites`` counts the candidate sites in the unit where the type
    may be built, and ``reason`` says why a standard stays unmet:
    ``no candidate site`` (nothing the plan could do) or ``budget``.
    """
    region = scenario.region
    out = []
    counts = {}
    eligible = _eligible_site_counts(scenario)
    for label, facilities in (("before", facilities_before), ("after", facilities_after)):
        member = region.unit_membership(facilities["unit_id"].astype(str))
        member["facility_type"] = facilities["facility_type"].astype(str).to_numpy()[member["row"].to_numpy()]
        counts[label] = member.groupby(["unit_id", "facility_type"]).size()
    names = region.admin_units["name"]
    names_en = region.admin_units["name_en"]
    for std in scenario.standard_list():
        have_b = int(counts["before"].get((std.unit_id, std.facility_type), 0))
        have_a = int(counts["after"].get((std.unit_id, std.facility_type), 0))
        met_b, met_a = have_b >= std.count, have_a >= std.count
        n_sites = int(eligible.get((std.unit_id, std.facility_type), 0))
        reason = "" if met_a else ("no candidate site" if n_sites < std.count - have_b else "budget")
        out.append(
            {
                "unit_id": std.unit_id,
                "name": names.get(std.unit_id, ""),
                "name_en": names_en.get(std.unit_id, ""),
                "level": std.level,
                "facility_type": std.facility_type,
                "required": std.count,
                "mode": "hard" if std.hard else "soft",
                "have_before": have_b,
                "have_after": have_a,
                "status": "met" if met_b else ("newly met" if met_a else "not met"),
                "eligible_sites": n_sites,
                "reason": reason,
            }
        )
    return pd.DataFrame(
        out,
        columns=[
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
        ],
    )


def _eligible_site_counts(scenario: Scenario) -> pd.Series:
    """Candidate sites per (admin unit, facility type) where the type may be built."""
    region = scenario.region
    member = region.unit_membership(region.candidates["unit_id"].astype(str))
    rows = member["row"].to_numpy()
    frames = []
    for type_id, ok in scenario.eligible_sites().items():
        sel = ok[rows]
        frames.append(pd.DataFrame({"unit_id": member["unit_id"].to_numpy()[sel], "facility_type": type_id}))
    if not frames:
        return pd.Series(dtype=int)
    return pd.concat(frames).groupby(["unit_id", "facility_type"]).size()


def group_gap(scenario: Scenario, before: Layout, after: Layout, group: str) -> pd.DataFrame:
    """Coverage rate inside a group of units (yes/no column ``group``) vs the rest, per type.

    A demand point is in the group when its unit or a unit containing it
    says yes (:func:`optimizer.region.group_members`).

    A final row ``all types`` weights each type by the scenario's objective
    weights. ``gap`` = rest rate − group rate (positive: the group lags).
    """
    region = scenario.region
    in_group = region.demand_in_group(group)
    rows = []
    totals = dict.fromkeys(("gp", "gb", "ga", "rp", "rb", "ra"), 0.0)
    for type_id, ftype in scenario.catalogue.items():
        pop = region.group_population(ftype.serves)
        w = scenario.weight(type_id)
        gp, rp = pop[in_group].sum(), pop[~in_group].sum()
        gb, ga = before.served[type_id][in_group].sum(), after.served[type_id][in_group].sum()
        rb, ra = before.served[type_id][~in_group].sum(), after.served[type_id][~in_group].sum()
        for key, val in zip(("gp", "gb", "ga", "rp", "rb", "ra"), (gp, gb, ga, rp, rb, ra), strict=False):
            totals[key] += w * val
        rows.append(_gap_row(type_id, gp, gb, ga, rp, rb, ra))
    t = totals
    rows.append(_gap_row("all types", t["gp"], t["gb"], t["ga"], t["rp"], t["rb"], t["ra"]))
    return pd.DataFrame(rows)


def _gap_row(label: str, gp: float, gb: float, ga: float, rp: float, rb: float, ra: float) -> dict[str, object]:
    def rate(c: float, p: float) -> float:
        return c / p if p else np.nan

    return {
        "facility_type": label,
        "group_population": gp,
        "rest_population": rp,
        "group_rate_before": rate(gb, gp),
        "rest_rate_before": rate(rb, rp),
        "gap_before": rate(rb, rp) - rate(gb, gp),
        "group_rate_after": rate(ga, gp),
        "rest_rate_after": rate(ra, rp),
        "gap_after": rate(ra, rp) - rate(ga, gp),
    }


def newly_covered(
    scenario: Scenario, before: Layout, ftype: FacilityType, site_xy: np.ndarray, site_ids: np.ndarray | None = None
) -> np.ndarray:
    """For each new facility of ``ftype``: residents of its group within its
    standard who had no facility of the type in reach before.

    Overlapping new facilities each count the people they reach. ``site_ids``
    (the candidate sites' IDs) are needed when the impedance is an OD matrix.
    """
    region = scenario.region
    demand_xy = planar_xy(region.demand, region.projected_crs)
    urban = region.urban_flags()
    pop = region.group_population(ftype.serves)
    unserved = pop - before.served[ftype.type_id]
    ids = np.asarray(site_ids).astype(str) if site_ids is not None else np.full(len(site_xy), "")
    demand = Points(region.demand.index.astype(str).to_numpy(), demand_xy)
    impedance = impedance_for(scenario, ftype.type_id)
    rows, cols, _, _ = impedance.reach(ftype.urban, ftype.rural, urban, demand, Points(ids, site_xy))
    return np.bincount(cols, weights=unserved[rows], minlength=len(site_xy))
