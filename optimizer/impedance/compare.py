"""How reach changes with the terrain impedance: constant detour factor vs terrain, by area.

Kept apart from :mod:`optimizer.impedance.terrain` because it uses the
package's scenario helpers (:func:`~optimizer.impedance.impedance_for` and
the point builders), which the package ``__init__`` defines after importing
the impedance classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import demand_points, facility_points, impedance_for, site_points
from .base import Points, StraightLine
from .terrain import TerrainImpedance

if TYPE_CHECKING:  # the scenario comes before the impedance in the data flow; only its type is needed here
    import pandas as pd

    from ..scenario import Scenario

__all__ = ["terrain_reach_comparison", "nearest_minutes", "nearest_time"]

KEYS = ("population", "before_constant", "before_terrain", "after_constant", "after_terrain")


def terrain_reach_comparison(
    scenario: Scenario, chosen_sites: pd.DataFrame, *, group: str = "mountain26"
) -> dict | None:
    """Population within the standard of its facilities, constant detour factor vs terrain, by area.

    For every facility type planned with the terrain impedance, the
    population it serves is counted as covered when an existing facility
    (before) or an existing or new one (after) lies within the type's
    standard — once with the standard's constant detour factor
    (:class:`~optimizer.impedance.base.StraightLine`), once with the
    terrain impedance. Counts are summed over those types
    ("person-services") and split into demand points in ``group`` (a yes/no
    column of the admin units, e.g. the 26 mountain counties) and the rest.
    This is reach, not service: capacities are not applied (a type with a
    capacity serves at most its capacity of the people in reach).

    Parameters
    ----------
    scenario
        The planned scenario.
    chosen_sites
        The plan's new facilities: columns ``site_id`` and ``facility_type``.
    group
        Admin-units column that marks the area to compare; ignored (one
        ``all`` row) when the region has no such column.

    Returns
    -------
    dict or None
        ``{"group", "types", "rows": [{"area", "population",
        "before_constant", "before_terrain", "after_constant",
        "after_terrain", "mean_detour", "mean_speed"}, ...]}`` (covered
        counts in residents), plus ``"by_type"`` (the same five counts per
        type, whole region), or None when no type uses the terrain impedance.
    """
    types = [t for t in scenario.catalogue if isinstance(impedance_for(scenario, t), TerrainImpedance)]
    if not types:
        return None
    region = scenario.region
    demand = demand_points(scenario)
    urban = region.urban_flags()
    has_group = group in region.admin_units.columns
    in_group = region.demand_in_group(group) if has_group else np.zeros(len(demand), bool)
    facilities = facility_points(scenario)
    fac_types = region.facilities["facility_type"].astype(str).to_numpy()
    sites = site_points(scenario)
    site_pos = {s: i for i, s in enumerate(sites.ids)}
    chosen_type = chosen_sites["facility_type"].astype(str).to_numpy()
    chosen_ids = chosen_sites["site_id"].astype(str).to_numpy()
    areas = [(group, in_group), ("rest", ~in_group)] if has_group else []
    areas.append(("all", np.ones(len(demand), bool)))
    totals = {name: np.zeros(5) for name, _ in areas}
    by_type: dict[str, dict[str, float]] = {}
    detour = np.ones(len(demand))
    speed = np.ones(len(demand))
    constant = StraightLine()
    for type_id in types:
        ftype = scenario.catalogue[type_id]
        terrain = impedance_for(scenario, type_id)
        assert isinstance(terrain, TerrainImpedance)
        detour, speed = terrain.factors_for(demand)
        population = region.group_population(ftype.serves).astype(float)
        before = facilities.subset(fac_types == type_id)
        new = np.array([site_pos[s] for s in chosen_ids[chosen_type == type_id]], dtype=np.int64)
        after = Points(np.concatenate([before.ids, sites.ids[new]]), np.vstack([before.xy, sites.xy[new]]))
        covered = []
        for targets in (before, after):
            for imp in (constant, terrain):
                rows, _, _, _ = imp.reach(ftype.urban, ftype.rural, urban, demand, targets)
                hit = np.zeros(len(demand), bool)
                hit[rows] = True
                covered.append(hit)
        for name, mask in areas:
            totals[name] += [population[mask].sum(), *(population[mask & hit].sum() for hit in covered)]
        by_type[type_id] = dict(
            zip(KEYS, [float(population.sum()), *(float(population[hit].sum()) for hit in covered)], strict=True)
        )
    rows_out = []
    for name, mask in areas:
        pop, b_const, b_terr, a_const, a_terr = totals[name]
        rows_out.append(
            {
                "area": name,
                "population": float(pop),
                "before_constant": float(b_const),
                "before_terrain": float(b_terr),
                "after_constant": float(a_const),
                "after_terrain": float(a_terr),
                "mean_detour": float(detour[mask].mean()) if mask.any() else None,
                "mean_speed": float(speed[mask].mean()) if mask.any() else None,
            }
        )
    return {"group": group if has_group else None, "types": types, "rows": rows_out, "by_type": by_type}


def nearest_minutes(scenario: Scenario, type_id: str, nearest_km: np.ndarray) -> np.ndarray:
    """Minutes to the nearest facility implied by a straight-line impedance, per demand point.

    ``nearest_km`` is the impedance's km (terrain-adjusted for ``terrain``,
    i.e. straight km × the point's terrain detour). For the ``straight_line``
    and ``terrain`` kinds, a point whose standard is in minutes gets ``km ×
    detour_factor / (speed_kmh (× terrain speed)) × 60``; points with a
    ``distance_km`` standard, no facility in reach (``inf``) or another
    impedance (whose minutes are route times:
    :meth:`~optimizer.impedance.base.Impedance.nearest_minutes`) get NaN.
    """
    imp = impedance_for(scenario, type_id)
    km = np.asarray(nearest_km, dtype=float)
    out = np.full(len(km), np.nan)
    if not isinstance(imp, StraightLine):
        return out
    ftype = scenario.catalogue[type_id]
    urban = scenario.region.urban_flags()
    speed = np.where(urban, ftype.urban.speed_kmh or np.nan, ftype.rural.speed_kmh or np.nan)
    detour = np.where(urban, ftype.urban.detour_factor, ftype.rural.detour_factor)
    if isinstance(imp, TerrainImpedance):  # the terrain detour is in the km already
        speed = speed * imp.factors_for(demand_points(scenario))[1]
    ok = np.isfinite(km) & np.isfinite(speed)
    out[ok] = km[ok] * detour[ok] / speed[ok] * 60.0
    return out


def nearest_time(
    scenario: Scenario, type_id: str, demand: Points, targets: Points, nearest_km: np.ndarray
) -> np.ndarray:
    """Minutes from each demand point to the quickest of ``targets`` by the type's impedance.

    Fastest-route minutes on a network, the matrix's minutes (among its
    pairs within the largest standard) for an OD matrix, and for
    ``straight_line`` and ``terrain`` the minutes a standard in minutes
    implies for ``nearest_km`` (:func:`nearest_minutes`). ``inf``: nothing
    reached; NaN: no minutes (a ``distance_km`` standard on a straight line,
    a matrix without minutes).
    """
    imp = impedance_for(scenario, type_id)
    if isinstance(imp, StraightLine):
        return nearest_minutes(scenario, type_id, nearest_km)
    return imp.nearest_minutes(demand, targets)
