"""Reach and access: coverage pairs from each type's impedance, and the access and attendance objectives' terms."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pulp

from ..impedance import Impedance, Points, StraightLine
from ..impedance.straight_line import coverage_pairs, nearest_distance
from ..locate.attendance import decay_weights
from .access_radius import access_levels, add_access_levels
from .competitors import competitor_targets, competitor_utility, competitor_utility_of_pairs, huff_capture

if TYPE_CHECKING:
    from .model import PlanningModel, _TypeData


def _reach_by_impedance(model: PlanningModel, td: _TypeData, impedance: Impedance, objective: str) -> None:
    """Coverage (or access) pairs of one type from its impedance (straight line, OD matrix, road network).

    Standards in minutes are compared with travel minutes and
    ``distance_km`` standards with network km (:meth:`Impedance.reach`);
    existing facilities are reached the same way as candidate sites. The
    access objective measures km along the network.
    """
    ftype = td.ftype
    sites = model.site_points.subset(td.sites)
    existing = model.fac_points.subset(td.existing)
    if objective == "access":
        sc = model.scenario
        cap = (sc.objective.access_cap_km * 1000.0) if sc.objective.access_cap_km else 3.0 * ftype.rural.radius_m()
        d_exist = impedance.nearest_km(model.demand_points, existing) * 1000.0
        td.baseline = np.minimum(d_exist, cap)
        if isinstance(impedance, StraightLine):  # terrain: straight pairs within the adjusted km, so fewer
            model._count_pairs_first(model.site_xy[td.sites], float(td.baseline.max(initial=0.0)), ftype.type_id)
        rows, cols, _, km = impedance.pairs(model.demand_points, sites, None, td.baseline / 1000.0)
        dist = km * 1000.0
        keep = (dist < td.baseline[rows]) & (td.population[rows] > 0)
        td.rows, td.cols, td.dist = rows[keep], cols[keep], dist[keep]
        return
    rows, cols, minutes, km = impedance.reach(ftype.urban, ftype.rural, model.urban, model.demand_points, sites)
    td.rows, td.cols = rows, cols
    td.dist = np.where(np.isfinite(km), km * 1000.0, np.nan)
    td.ex_rows, td.ex_cols, _, _ = impedance.reach(ftype.urban, ftype.rural, model.urban, model.demand_points, existing)


def _attendance_travel(
    model: PlanningModel, td: _TypeData, impedance: Impedance, targets: Points
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Attendance pairs of one type by its impedance: ``(rows, cols, travel, cutoff)`` per pair.

    With ``cutoff_km`` the travel is km (network, matrix, or terrain-adjusted
    straight km) up to that cutoff. Without it, each demand point's standard
    is the cutoff and travel is in the standard's unit: minutes for a
    standard in minutes where the impedance has minutes (network, matrix),
    else km (:meth:`Impedance.reach_travel`).
    """
    att = model.scenario.objective.attendance
    demand = model.demand_points
    if att.cutoff_km:
        rows, cols, _, km = impedance.pairs(demand, targets, None, np.full(len(demand), float(att.cutoff_km)))
        return rows, cols, km, np.full(len(rows), float(att.cutoff_km))
    ftype = td.ftype
    return impedance.reach_travel(ftype.urban, ftype.rural, model.urban, demand, targets)


def _attendance_by_impedance(model: PlanningModel, td: _TypeData, impedance: Impedance) -> None:
    """Attendance of one type whose impedance is not the plain straight line (matrix, network, terrain).

    The baseline of a demand point is the share of its best existing
    facility in reach (decay falls with travel, so the quickest); a pair
    with a new site enters the model only where it beats that baseline.
    Competitors are reached by the same impedance and take their Huff share
    (:func:`~optimizer.planning.competitors.huff_capture`).
    """
    att = model.scenario.objective.attendance
    n = len(model.demand_points)

    def share(travel: np.ndarray, cutoff: np.ndarray) -> np.ndarray:
        if att.decay == "linear":
            return np.clip(1.0 - travel / cutoff, 0.0, 1.0)
        return decay_weights(travel, att.decay, att.beta, np.inf)

    if isinstance(impedance, StraightLine) and att.cutoff_km:  # terrain: a known bound on the pairs to count
        model._count_pairs_first(model.site_xy[td.sites], att.cutoff_km * 1000.0, td.ftype.type_id)
    # Huff capture by competitors (planning/competitors.py), reached by the same impedance as the facilities
    rivals, attract = competitor_targets(model, td.ftype.type_id)
    c_rows, c_cols, c_travel, c_cut = _attendance_travel(model, td, impedance, rivals)
    rival = competitor_utility_of_pairs(n, c_rows, c_cols, share(c_travel, c_cut), attract)
    e_rows, _, e_travel, e_cut = _attendance_travel(model, td, impedance, model.fac_points.subset(td.existing))
    base = np.zeros(n)
    np.maximum.at(base, e_rows, share(e_travel, e_cut))
    base = huff_capture(base, rival)  # the capture grows with the share: the best existing facility's
    td.baseline = base
    rows, cols, travel, cut = _attendance_travel(model, td, impedance, model.site_points.subset(td.sites))
    gain = huff_capture(share(travel, cut), rival[rows]) - base[rows]
    keep = (gain > 0) & (td.population[rows] > 0)
    td.rows, td.cols, td.dist, td.gain = rows[keep], cols[keep], travel[keep], gain[keep]


def _attendance_pairs(model: PlanningModel, td: _TypeData, radius: np.ndarray, type_id: str) -> None:
    """Attendance: the existing facilities' share per demand point, and the pairs where a new site does better."""
    impedance = model.impedance[type_id]
    if type(impedance) is not StraightLine:
        _attendance_by_impedance(model, td, impedance)
        return
    att = model.scenario.objective.attendance
    n = len(model.demand_xy)
    cutoff = (
        np.full(n, att.cutoff_km * 1000.0) if att.cutoff_km else np.broadcast_to(np.asarray(radius, float), (n,)).copy()
    )
    d_exist, _ = nearest_distance(model.demand_xy, model.fac_xy[td.existing])

    def share(d_m: np.ndarray, cut_m: np.ndarray) -> np.ndarray:
        # linear decay falls to 0 at each demand point's own cutoff; power/exponential use km
        if att.decay == "linear":
            with np.errstate(invalid="ignore"):
                a = np.clip(1.0 - d_m / cut_m, 0.0, 1.0)
        else:
            a = decay_weights(np.where(np.isfinite(d_m), d_m, 0.0) / 1000.0, att.decay, att.beta, np.inf)
        return np.where(d_m <= cut_m, a, 0.0)

    rival = competitor_utility(model, td, share, cutoff)  # Huff capture by competitors (planning/competitors.py)
    base = huff_capture(share(d_exist, cutoff), rival)
    td.baseline = base
    model._count_pairs_first(model.site_xy[td.sites], float(cutoff.max(initial=0.0)), type_id)
    rows, cols, dist = coverage_pairs(model.demand_xy, model.site_xy[td.sites], cutoff)
    gain = huff_capture(share(dist, cutoff[rows]), rival[rows]) - base[rows]
    keep = (gain > 0) & (td.population[rows] > 0)
    td.rows, td.cols, td.dist, td.gain = rows[keep], cols[keep], dist[keep], gain[keep]


def _access_terms(
    model: PlanningModel, prob: pulp.LpProblem, ki: int, type_id: str, td: _TypeData
) -> tuple[pulp.LpAffineExpression, float]:
    """Population-weighted distance (km) of one type: baseline minus savings from closer new sites.

    By default in merged radius form (:mod:`optimizer.planning.access_radius`);
    with ``model.access_radius = False`` as the assignment model
    ``Σ_i P_i b_i − Σ_ij P_i (b_i − d_ij) x_ij``, ``x_ij ≤ y_j``, ``Σ_j x_ij ≤ 1``
    (the same optimum and LP bound, one variable and row per pair). Returns the
    expression and ``Σ_i P_i b_i``, the value without new sites.
    """
    assert td.baseline is not None  # set by prepare() for the access objective
    pop = td.population
    base_km = td.baseline / 1000.0
    const = float((pop * base_km).sum())
    ys = model.y[type_id]
    if len(td.rows) == 0:
        return pulp.LpAffineExpression() + const, const
    if model.access_radius:  # merged radius levels (planning/access_radius.py): same optimum, far smaller
        levels = access_levels(td.rows, td.cols, td.dist / 1000.0, base_km, pop, len(ys), seed=ki + 1)
        expr = add_access_levels(prob, ys, levels, f"a_{ki}", f"near_{ki}")
        td.levels = levels
        return expr + levels.constant, const
    saving = pop[td.rows] * (td.baseline[td.rows] - td.dist) / 1000.0
    terms = _choose_one_site(prob, ys, td.rows, td.cols, -saving, f"a_{ki}", f"near_{ki}")
    return pulp.LpAffineExpression(terms) + const, const


def _attendance_terms(
    model: PlanningModel, prob: pulp.LpProblem, ki: int, td: _TypeData
) -> tuple[pulp.LpAffineExpression, float]:
    """Attending people of one type: the existing share plus the gain of the best open new site in reach.

    ``Σ_i P_i b_i + Σ_ij P_i (a_ij − b_i) x_ij`` with ``x_ij <= y_j`` and
    ``Σ_j x_ij <= 1``: at an optimum each demand point takes the largest
    gain, i.e. its nearest open facility, so the value is exactly
    ``Σ_i P_i max(b_i, max_{j open} a_ij)``.
    """
    assert td.baseline is not None and td.gain is not None  # set by _attendance_pairs()
    pop = td.population
    const = float(pop @ td.baseline)
    ys = model.y[td.ftype.type_id]
    terms = _choose_one_site(prob, ys, td.rows, td.cols, pop[td.rows] * td.gain, f"att_{ki}", f"attend_{ki}")
    return pulp.LpAffineExpression(terms) + const, const


def _choose_one_site(
    prob: pulp.LpProblem,
    ys: list[pulp.LpVariable],
    rows: np.ndarray,
    cols: np.ndarray,
    coefficients: np.ndarray,
    var_prefix: str,
    row_prefix: str,
) -> list[tuple[pulp.LpVariable, float]]:
    """Each demand point takes at most one open site among its pairs: ``x_ij <= y_j``, ``Σ_j x_ij <= 1``.

    ``rows``/``cols`` are the pairs sorted by demand point; returns the
    objective terms ``coefficient_p · x_p``, one per pair.
    """
    terms = []
    demand_rows, starts = np.unique(rows, return_index=True)
    stops = np.append(starts[1:], len(rows))
    for i, start, stop in zip(demand_rows.tolist(), starts.tolist(), stops.tolist(), strict=False):
        xs = []
        for p in range(start, stop):
            c = int(cols[p])
            x = pulp.LpVariable(f"{var_prefix}_{i}_{c}", lowBound=0, upBound=1)
            xs.append((x, 1.0))
            terms.append((x, float(coefficients[p])))
            prob.addConstraint(
                pulp.LpConstraint(pulp.LpAffineExpression([(x, 1.0), (ys[c], -1.0)]), pulp.LpConstraintLE, rhs=0)
            )
        prob.addConstraint(
            pulp.LpConstraint(pulp.LpAffineExpression(xs), pulp.LpConstraintLE, rhs=1), name=f"{row_prefix}_{i}"
        )
    return terms
