"""The planning model: budgeted, standards-aware, multi-type facility location.

:class:`PlanningModel` turns a :class:`~optimizer.scenario.Scenario` into a
PuLP mixed-integer program, solves it with HiGHS or CBC and returns a
:class:`~optimizer.result.PlanResult`.

Decisions
    ``y[k, j] ∈ {0, 1}`` — build a new facility of type ``k`` at candidate
    site ``j`` (at most one of a type per site).
Coverage (objectives ``coverage``, ``equity``, ``min_cost``)
    Only (demand, site) pairs within the type's service standard enter the
    model, and demand points with identical covering sets are merged into one
    row, so the model grows with the nonzeros of the coverage matrix, not
    with demand × sites. Demand already covered by an existing facility is a
    constant. Without capacity: ``z[r] ≤ Σ_{j covers r} y[k, j]``. With
    capacity, population is assigned: ``Σ_j x[r, j] ≤ 1``,
    ``Σ_r P_r x[r, j] ≤ cap_j · y[k, j]`` (existing facilities: ``≤ cap_j``)
    and ``x[r, j] ≤ y[k, j]`` — people beyond a facility's capacity are not
    counted as served.
Access (objective ``access``)
    Each demand point keeps its distance to the nearest existing facility
    (capped at ``access_cap_km``) unless a new site is closer; only closer
    pairs enter the model, in merged radius form (planning/access_radius.py;
    the same optimum as ``Σ_j x[i, j] ≤ 1``, ``x[i, j] ≤ y[k, j]``,
    minimise ``Σ w_k p_i (D0_i − Σ_j (D0_i − d_ij) x[i, j])``).
Standards
    ``existing + Σ_{j in unit} y[k, j] (+ shortfall) ≥ required`` per admin
    unit and required type; hard (no shortfall) or soft (shortfall penalised).
Budget
    Total, per admin unit (levels chosen in the scenario) and per family.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pulp

from ..catalogue import FacilityType
from ..config.reader import config_line
from ..datum import planar_xy
from ..errors import InfeasibleError, ModelTooLargeError, SolverError
from ..impedance import Impedance, Points, StraightLine, impedance_for
from ..impedance.rows import merge_rows
from ..impedance.straight_line import coverage_pairs, nearest_distance
from ..results.plan import PlanResult
from ..scenario import Scenario, Standard, default_unit_levels
from ..solvers.highs_bulk import constraint_dict
from ..solvers.options import SolveReport, SolverOptions
from ..solvers.pulp_path import solve_problem
from .access import _access_terms, _attendance_pairs, _attendance_terms, _reach_by_impedance
from .access_radius import AccessLevels
from .access_solve import solve_access
from .competitors import competitor_served, with_competitors
from .diagnose import (
    StandardRow,
    _budget_shortfalls,
    _check_hard_standards,
    _diagnose,
    _min_cost_of_standards,
)
from .equity_bound import solve_stage1 as _solve_equity_stage1
from .equity_lns import solve_stage2 as _solve_equity_stage2
from .fair import _combine, _solve_kolm_pollak, _solve_leximin, _stage1_kept
from .kolm_pollak_time import _kp_time_terms, kp_over_time, kp_time_pairs, kp_time_report, route_minutes
from .lp_plan import lp_guided_pays, solve_lp_guided
from .min_cost_reduce import solve_min_cost
from .size import (
    _UNIT_KINDS,
    ModelSize,
    _check_memory,
    _count_pairs_first,
    _estimate_size,
    _memory_limit,
    _too_large,
)


@dataclass
class _TypeData:
    """Per facility type: who needs it, where it can go, who is in reach."""

    ftype: FacilityType
    population: np.ndarray  # group population per demand point
    sites: np.ndarray  # positional indices of eligible candidate sites
    existing: np.ndarray  # positional indices of existing facilities of this type
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # demand index of each pair
    cols: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # position in `sites`
    dist: np.ndarray = field(default_factory=lambda: np.empty(0))
    ex_rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    ex_cols: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # position in `existing`
    baseline: np.ndarray | None = None  # access: capped distance to nearest existing (m)
    gain: np.ndarray | None = None  # attendance: share gained per pair over the existing facilities' share
    levels: AccessLevels | None = None  # access: its merged radius levels (read by access_solve)


# Compared units of the equity objectives (see PlanningModel._compare_signatures): signature per demand
# point, units of each signature, (row, unit) pairs, labels.
_Compare = tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray, list[str]]
# One type's coverage of one compared unit: covered expression, constant (already covered), population.
_UnitCoverage = tuple[pulp.LpAffineExpression, float, float]


@dataclass
class _RowUnits:
    """Which compared units each merged coverage row counts for, and their collected terms."""

    row_keys: np.ndarray | None  # signature of each merged row (-1: in no compared unit); None without equity
    units_of: list[np.ndarray]  # compared units of each signature
    unit_terms: dict[int, list[tuple[pulp.LpVariable, float]]]

    def add(self, r: int, var: pulp.LpVariable, weight: float) -> None:
        """Count ``weight * var`` (merged row ``r``) for every compared unit that contains the row."""
        if self.row_keys is not None and self.row_keys[r] >= 0:
            for u in self.units_of[self.row_keys[r]].tolist():
                self.unit_terms[u].append((var, weight))


def compared_units(scenario: Scenario) -> list[str]:
    """The admin units whose rates equity compares with ``compare: units`` or ``units_in_group``.

    Every unit of ``equity.levels`` (default :func:`default_unit_levels`),
    for ``units_in_group`` only those in the group
    (:meth:`optimizer.region.Region.group_members`). Units may nest; each
    is compared with its own population (see :meth:`PlanningModel._compare_members`).
    """
    region = scenario.region
    eq = scenario.objective.equity
    units = region.admin_units
    compared = units[units["level"].isin(eq.levels or default_unit_levels(scenario))]
    if eq.compare == "units_in_group":
        assert eq.group is not None  # Scenario validation requires a group for this comparison
        compared = compared[region.group_members(eq.group).loc[compared.index].to_numpy(dtype=bool)]
    return list(compared.index.astype(str))


class PlanningModel:
    """Budgeted, standards-aware, multi-type facility location for one scenario.

    Parameters
    ----------
    scenario
        A validated :class:`~optimizer.scenario.Scenario`.

    Examples
    --------
    >>> model = PlanningModel(load_scenario("configs/zhejiang.yaml"))  # doctest: +SKIP
    >>> model.problem += my_extra_constraint                           # doctest: +SKIP
    >>> result = model.solve()                                         # doctest: +SKIP
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.timings: dict[str, float] = {}
        self.size = ModelSize()
        self._problem: pulp.LpProblem | None = None
        self._prepared = False
        self.unit_caps: dict[str, str] = {}  # per-unit budget cap row name -> the capped unit (_budget_caps)
        # cost of each site variable by name, filled by the budget diagnosis (see diagnose.py)
        self._var_cost: dict[str, float] = {}
        # x[r, j] <= y[k, j] tightens the LP of capacitated types but, measured
        # on the Zhejiang default, costs more in rows than it saves in search
        # (solve 37 s with it, 24 s without); capacity rows already force
        # x = 0 at closed sites.
        self.strong_linking = False
        # Access in merged radius form (planning/access_radius.py), solved LP first with HiGHS
        # (planning/access_solve.py); False: the assignment model (x per pair), one plain solve.
        self.access_radius = True
        # Equity stage 1 past a short plain solve: Lagrangian bound and level probes (planning/equity_bound.py,
        # measured in benchmarks/README.md) and stage 2 from stage 1's plan (planning/equity_lns.py);
        # False: branch and bound on max t for the whole time limit, stage 2 by one solve.
        self.equity_level_search = True
        # min_cost with HiGHS: solve by type with count cuts, the plans moved out of a violated city cap at their
        # own optima (planning/min_cost_reduce.py; Zhejiang default: proven in < 60 s, benchmarks/README.md,
        # "Every objective"); False: the whole model in one solve.
        self.min_cost_count_cuts = True
        # coverage/attendance with HiGHS: LP bound, a plan from the LP, then the MIP above it (planning/lp_plan.py);
        # None: where it pays (lp_plan.lp_guided_pays, measured there); True/False: always/never.
        self.lp_guided: bool | None = None

    # ================================================================== preparation
    def prepare(self) -> PlanningModel:
        """Project coordinates, find eligible sites and the coverage pairs of every type."""
        if self._prepared:
            return self
        t0 = time.perf_counter()
        sc = self.scenario
        region = sc.region
        crs = region.projected_crs
        self.demand_xy = planar_xy(region.demand, crs)
        self.site_xy = planar_xy(region.candidates, crs)
        self.fac_xy = planar_xy(region.facilities, crs)
        self.urban = region.urban_flags()

        # Site / facility / demand membership in admin units (ancestors included).
        self.site_units = region.unit_membership(region.candidates["unit_id"].astype(str))
        self.fac_units = region.unit_membership(region.facilities["unit_id"].astype(str))
        self.site_ids = region.candidates.index.astype(str).to_numpy()

        self.required = {(r.site_id, r.facility_type) for r in sc.sites.required}
        eligible = sc.eligible_sites()
        fac_types = region.facilities["facility_type"].astype(str).to_numpy()

        self.types: dict[str, _TypeData] = {}
        self.impedance: dict = {}
        objective = "access" if sc.objective.measures_access() else sc.objective.kind
        # IDs with the coordinates: an OD matrix finds its pairs by ID, a road network by location.
        self.demand_points = Points(region.demand.index.astype(str).to_numpy(), self.demand_xy)
        self.site_points = Points(self.site_ids, self.site_xy)
        self.fac_points = Points(region.facilities.index.astype(str).to_numpy(), self.fac_xy)
        for type_id, ftype in sc.catalogue.items():
            allowed = eligible[type_id]
            td = _TypeData(
                ftype=ftype,
                population=region.group_population(ftype.serves),
                sites=np.flatnonzero(allowed),
                existing=np.flatnonzero(fac_types == type_id),
            )
            radius = ftype.radius_m(self.urban)
            impedance = impedance_for(sc, type_id)
            self.impedance[type_id] = impedance
            if objective == "access" and type(impedance) is StraightLine:  # others (terrain too): access.py
                cap = (
                    (sc.objective.access_cap_km * 1000.0)
                    if sc.objective.access_cap_km
                    else 3.0 * ftype.rural.radius_m()
                )
                d_exist, _ = nearest_distance(self.demand_xy, self.fac_xy[td.existing])
                td.baseline = np.minimum(d_exist, cap)
                self._count_pairs_first(self.site_xy[td.sites], float(td.baseline.max(initial=0.0)), type_id)
                rows, cols, dist = coverage_pairs(self.demand_xy, self.site_xy[td.sites], td.baseline)
                keep = (dist < td.baseline[rows]) & (td.population[rows] > 0)
                td.rows, td.cols, td.dist = rows[keep], cols[keep], dist[keep]
            elif objective == "attendance":
                self._attendance_pairs(td, radius, type_id)
            else:
                if isinstance(impedance, StraightLine):  # a pair count is only known in advance for straight lines
                    self._count_pairs_first(self.site_xy[td.sites], float(np.max(radius, initial=0.0)), type_id)
                self._reach_by_impedance(td, impedance, objective)
            self.types[type_id] = td
        self.timings["coverage"] = time.perf_counter() - t0
        self._prepared = True
        return self

    def _reach_by_impedance(self, td: _TypeData, impedance: Impedance, objective: str) -> None:
        """Coverage (or access) pairs of one type from its impedance (straight line, OD matrix, road network).

        Standards in minutes are compared with travel minutes and
        ``distance_km`` standards with network km (:meth:`Impedance.reach`);
        existing facilities are reached the same way as candidate sites. The
        access objective measures km along the network.
        """
        if objective == "access" and kp_over_time(self.scenario) and route_minutes(impedance):
            return kp_time_pairs(self, td, impedance)  # in the impedance's minutes (planning/kolm_pollak_time.py)
        return _reach_by_impedance(self, td, impedance, objective)

    def _attendance_pairs(self, td: _TypeData, radius: np.ndarray, type_id: str) -> None:
        """Attendance: the existing facilities' share per demand point, and the pairs where a new site does better."""
        return _attendance_pairs(self, td, radius, type_id)

    # ------------------------------------------------------------------ helpers
    def _compare_members(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """For the equity objective: every (demand point, compared unit) pair where the unit contains the point.

        Compared units may nest (``[township, county]``, ``[county, city]``):
        a demand point then counts for each of them, so every compared unit
        enters the max-min with its own population and rate. Returns the
        demand positions, the compared unit's position in the labels, and
        the labels.
        """
        sc = self.scenario
        region = sc.region
        eq = sc.objective.equity
        n = len(region.demand)
        if eq.compare == "group_vs_rest":
            assert eq.group is not None  # Scenario validation requires a group for this comparison
            in_group = region.demand_in_group(eq.group)
            return (
                np.arange(n, dtype=np.int64),
                np.where(in_group, 0, 1).astype(np.int64),
                [f"{eq.group}", f"not {eq.group}"],
            )
        membership = region.unit_membership(region.demand["unit_id"].astype(str))
        labels = compared_units(sc)
        pos = {u: i for i, u in enumerate(labels)}
        hit = membership[membership["unit_id"].isin(pos)]
        return hit["row"].to_numpy(dtype=np.int64), hit["unit_id"].map(pos).to_numpy(dtype=np.int64), labels

    def _compare_signatures(self) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray, list[str]]:
        """Compared units of every demand point, as a signature id (-1 = in no compared unit).

        Demand points in the same set of compared units share a signature,
        so merging rows by covering set and signature keeps each merged row
        inside one set of units. Returns the signature per demand point, the
        units of each signature, the (row, unit) pairs and the labels.
        """
        rows, unit_pos, labels = self._compare_members()
        n = len(self.scenario.region.demand)
        order = np.lexsort((unit_pos, rows))
        rows, unit_pos = rows[order], unit_pos[order]
        sets: list[tuple[int, ...]] = [()] * n
        if len(rows):
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            stops = np.r_[starts[1:], len(rows)]
            for start, stop in zip(starts.tolist(), stops.tolist(), strict=False):
                sets[int(rows[start])] = tuple(unit_pos[start:stop].tolist())
        ids: dict[tuple[int, ...], int] = {}
        signature = np.full(n, -1, dtype=np.int64)
        for i, members in enumerate(sets):
            if members:
                signature[i] = ids.setdefault(members, len(ids))
        units_of = [np.asarray(members, dtype=np.int64) for members in ids]
        return signature, units_of, rows, unit_pos, labels

    def estimate_size(self) -> ModelSize:
        """Upper bounds on the rows, columns and nonzeros of the model, before building it.

        Counted from the coverage pairs before demand rows are merged, so the
        built model is never larger (usually smaller: see :attr:`size`).
        """
        return _estimate_size(self)

    def _memory_limit(self) -> float:
        """Bytes a model may take: ``limits.max_memory_gb``, else 80% of the machine's memory."""
        return _memory_limit(self)

    def _count_pairs_first(self, site_xy: np.ndarray, radius: float, type_id: str) -> None:
        """Refuse before computing coverage pairs that could not fit in memory.

        The pairs themselves (about 24 bytes each) come before the estimate;
        when demand x sites could exceed the limit, they are first counted
        without being stored (``cKDTree.count_neighbors``), and a count whose
        model would not fit is refused at once.
        """
        return _count_pairs_first(self, site_xy, radius, type_id)

    def _too_large(self, needed: float, detail: str, limit: float) -> ModelTooLargeError:
        return _too_large(self, needed, detail, limit)

    def _check_memory(self) -> None:
        return _check_memory(self)

    # ================================================================== build
    @property
    def problem(self) -> pulp.LpProblem:
        """The PuLP problem (built on first access). Add constraints before :meth:`solve`."""
        if self._problem is None:
            self.build()
        return self._problem

    @problem.setter
    def problem(self, value: pulp.LpProblem) -> None:
        # ``model.problem += constraint`` rebinds the attribute to the same object.
        if value is not self.problem:
            raise AttributeError("PlanningModel.problem cannot be replaced; add constraints to it instead")

    def build(self) -> pulp.LpProblem:
        """Build the PuLP problem for the scenario's objective."""
        self.prepare()
        self._check_memory()
        t0 = time.perf_counter()
        sc = self.scenario
        kind = "kp_time" if kp_over_time(sc) else sc.objective.kind
        sense = pulp.LpMinimize if kind in ("min_cost", "access", "kp_time") else pulp.LpMaximize
        prob = pulp.LpProblem(f"regionopt_{sc.name}".replace("-", "_").replace(".", "_"), sense)
        self._constraints: list[tuple[str, pulp.LpConstraint]] = []
        self._site_decisions()
        merged_rows = self._coverage_expressions(prob, kind)

        # ---- standards
        self.shortfall: dict[Standard, pulp.LpVariable] = {}
        self.standard_rows: list[tuple[Standard, int, list[pulp.LpVariable]]] = []
        penalty_expr = self._standards(prob)

        cost_expr = self._budget(prob)
        self._objective(prob, kind, penalty_expr, cost_expr)

        self._problem = prob
        self.timings["build"] = time.perf_counter() - t0
        self._record_size(prob, merged_rows)
        return prob

    def _site_decisions(self) -> None:
        """The decisions ``y[k][j]``: one integer in [0, 1] (required sites: [1, 1]) per type and eligible site."""
        self.y: dict[str, list[pulp.LpVariable]] = {}
        for ki, (type_id, td) in enumerate(self.types.items()):
            ys = []
            for j in td.sites:
                sid = self.site_ids[j]
                low = 1 if (sid, type_id) in self.required else 0
                # LpBinary would reset the bounds; an integer in [low, 1] keeps required sites fixed.
                ys.append(pulp.LpVariable(f"y_{ki}_{j}", lowBound=low, upBound=1, cat=pulp.LpInteger))
            self.y[type_id] = ys

    def _coverage_expressions(self, prob: pulp.LpProblem, kind: str) -> int:
        """Coverage / access expressions per type (and per compared unit for equity); returns the merged rows."""
        self.coverage_expr: dict[str, pulp.LpAffineExpression] = {}
        self.coverage_const: dict[str, float] = {}
        self.total_population: dict[str, float] = {}
        merged_rows = 0
        compare: _Compare | None = None
        if kind in _UNIT_KINDS:
            compare = self._compare_signatures()
            self.compare_labels = compare[4]
            self.unit_expr: dict[int, pulp.LpAffineExpression] = {}
            self.unit_denominator: dict[int, float] = {}
        for ki, (type_id, td) in enumerate(self.types.items()):
            self.total_population[type_id] = float(td.population.sum())
            if kind == "access":
                expr, const = self._access_terms(prob, ki, type_id, td)
            elif kind == "kp_time":  # access on e^{κ t} (planning/kolm_pollak_time.py)
                expr, const = _kp_time_terms(self, prob, ki, type_id, td)
            elif kind == "attendance":
                expr, const = self._attendance_terms(prob, ki, td)
            else:
                expr, const, merged, per_unit = self._coverage_terms(prob, ki, type_id, td, compare)
                merged_rows += merged
                if kind in _UNIT_KINDS:
                    self._add_unit_coverage(type_id, per_unit)
            self.coverage_expr[type_id] = expr
            self.coverage_const[type_id] = const
        return merged_rows

    def _add_unit_coverage(self, type_id: str, per_unit: dict[int, _UnitCoverage]) -> None:
        """Add one type's weighted coverage of each compared unit to the unit's expression and denominator."""
        w = self.scenario.weight(type_id)
        for key, (uexpr, uconst, upop) in per_unit.items():
            e = self.unit_expr.setdefault(key, pulp.LpAffineExpression())
            e.addInPlace(uexpr * w)
            e.addInPlace(uconst * w)
            self.unit_denominator[key] = self.unit_denominator.get(key, 0.0) + w * upop

    def _budget(self, prob: pulp.LpProblem) -> pulp.LpAffineExpression:
        """The total budget row and the unit and family caps; returns the cost expression."""
        cost_expr = pulp.LpAffineExpression()
        for type_id, ys in self.y.items():
            cost = self.types[type_id].ftype.cost
            if ys and cost:
                cost_expr.addInPlace(pulp.LpAffineExpression([(v, cost) for v in ys]))
        self.cost_expr = cost_expr
        prob += (cost_expr <= self.scenario.budget.total, "budget_total")
        self._budget_caps(prob)
        return cost_expr

    def _weighted_coverage(self) -> pulp.LpAffineExpression:
        """``Σ_k w_k coverage_k``: the weighted coverage (or access, attendance) of all types."""
        obj = pulp.LpAffineExpression()
        for type_id, expr in self.coverage_expr.items():
            obj.addInPlace(expr * self.scenario.weight(type_id))
        return obj

    def _objective(
        self,
        prob: pulp.LpProblem,
        kind: str,
        penalty_expr: pulp.LpAffineExpression,
        cost_expr: pulp.LpAffineExpression,
    ) -> None:
        """Set ``main_objective`` and the problem's objective (and the rows that belong to it) for ``kind``."""
        sc = self.scenario
        max_cost = max((td.ftype.cost for td in self.types.values()), default=0.0) or 1.0
        # A tie-break so leftover budget is not spent on facilities that add
        # nothing; worth at most 0.001 objective units per facility, far below
        # one person, so it never trades real coverage.
        eps = 1e-3 / max_cost
        if kind in ("coverage", "attendance"):
            self.main_objective = self._weighted_coverage() - penalty_expr - eps * cost_expr
            prob.setObjective(self.main_objective)
        elif kind == "equity":
            self.t = pulp.LpVariable("min_rate", lowBound=0, upBound=1)
            for key, e in self.unit_expr.items():
                d = self.unit_denominator.get(key, 0.0)
                if d > 0:
                    prob += (e - d * self.t >= 0, f"equity_{key}")
            self.main_objective = self._weighted_coverage() - penalty_expr - eps * cost_expr
            prob.setObjective(pulp.LpAffineExpression([(self.t, 1.0)]))
        elif kind in ("leximin", "kolm_pollak"):
            self.main_objective = self._weighted_coverage() - penalty_expr - eps * cost_expr
            self._penalty_and_tiebreak = penalty_expr + eps * cost_expr
            self._rate_exprs = {
                key: (e, self.unit_denominator[key])
                for key, e in self.unit_expr.items()
                if self.unit_denominator.get(key, 0.0) > 0
            }
            prob.setObjective(self.main_objective)  # replaced stage by stage in solve()
        elif kind == "min_cost":
            for type_id, share in sc.objective.coverage_targets.items():
                target = share * self.total_population[type_id]
                prob += (self.coverage_expr[type_id] >= target, f"target_{type_id}")
            self.main_objective = cost_expr + penalty_expr
            prob.setObjective(self.main_objective)
        else:  # access
            self.main_objective = self._weighted_coverage() + penalty_expr + eps * cost_expr
            prob.setObjective(self.main_objective)

    def _record_size(self, prob: pulp.LpProblem, merged_rows: int) -> None:
        """:attr:`size`: the built model's measured size with the estimate's pair and demand counts."""
        estimate = self.estimate_size()
        self.size = self._measure(prob)
        self.size.merged_rows = merged_rows
        self.size.coverage_pairs = estimate.coverage_pairs
        self.size.demand_points = estimate.demand_points
        self.size.estimated_bytes = estimate.estimated_bytes

    def _coverage_terms(
        self, prob: pulp.LpProblem, ki: int, type_id: str, td: _TypeData, compare: _Compare | None
    ) -> tuple[pulp.LpAffineExpression, float, int, dict[int, _UnitCoverage]]:
        """Coverage of one type: constant (already covered) + merged-row variables.

        With ``compare`` (equity, see :meth:`_compare_signatures`) also, per
        compared unit, its covered expression, constant and population; a
        merged row counts for every compared unit that contains it.
        """
        n = len(td.population)
        pop = td.population
        capacitated = td.ftype.capacity is not None
        covered0 = np.zeros(n, bool)
        if not capacitated:
            covered0[td.ex_rows] = True
        covered0 |= competitor_served(self, td)  # served by a competitor (planning/competitors.py)
        const = float(pop[covered0].sum())
        unit_terms, unit_const, unit_pop = self._unit_baselines(pop, covered0, compare)

        def per_unit() -> dict[int, _UnitCoverage]:
            return {u: (pulp.LpAffineExpression(terms), unit_const[u], unit_pop[u]) for u, terms in unit_terms.items()}

        rows, cols, n_cols = self._uncovered_pairs(td, covered0, capacitated)
        if len(rows) == 0:
            return pulp.LpAffineExpression() + const, const, 0, per_unit()
        keys = compare[0] if compare is not None else None
        cols, starts, stops, weights, row_keys = self._merge_rows(ki, pop, rows, cols, n_cols, keys)
        merged = len(weights)
        rows_of_units = _RowUnits(row_keys, compare[1] if compare is not None else [], unit_terms)
        if not capacitated:
            expr_terms = self._cover_rows(prob, ki, type_id, cols, starts, stops, weights, rows_of_units)
        else:
            expr_terms = self._assign_rows(prob, ki, type_id, td, cols, starts, stops, weights, rows_of_units)
        return pulp.LpAffineExpression(expr_terms) + const, const, merged, per_unit()

    @staticmethod
    def _unit_baselines(
        pop: np.ndarray, covered0: np.ndarray, compare: _Compare | None
    ) -> tuple[dict[int, list[tuple[pulp.LpVariable, float]]], dict[int, float], dict[int, float]]:
        """Per compared unit: empty term list, population already covered, and population (empty without ``compare``)."""
        unit_terms: dict[int, list[tuple[pulp.LpVariable, float]]] = {}
        unit_const: dict[int, float] = {}
        unit_pop: dict[int, float] = {}
        if compare is not None:
            _keys, _units_of, c_rows, c_units, labels = compare
            pop_u = np.bincount(c_units, weights=pop[c_rows], minlength=len(labels))
            cov_u = np.bincount(c_units, weights=np.where(covered0, pop, 0.0)[c_rows], minlength=len(labels))
            for u in np.unique(c_units).tolist():
                unit_terms[u], unit_const[u], unit_pop[u] = [], float(cov_u[u]), float(pop_u[u])
        return unit_terms, unit_const, unit_pop

    @staticmethod
    def _uncovered_pairs(td: _TypeData, covered0: np.ndarray, capacitated: bool) -> tuple[np.ndarray, np.ndarray, int]:
        """Pairs that matter: demand with people, not already covered (uncapacitated); and the column count.

        With capacity, existing facilities join the assignment as always-open
        sites, numbered after the candidate sites.
        """
        pop = td.population
        if capacitated:
            rows = np.concatenate([td.rows, td.ex_rows])
            cols = np.concatenate([td.cols, len(td.sites) + td.ex_cols])
        else:
            rows, cols = td.rows, td.cols
        keep = (pop[rows] > 0) & ~covered0[rows]
        n_cols = len(td.sites) + (len(td.existing) if capacitated else 0)
        return rows[keep], cols[keep], n_cols

    @staticmethod
    def _merge_rows(
        ki: int, pop: np.ndarray, rows: np.ndarray, cols: np.ndarray, n_cols: int, keys: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Merge demand points with the same covering set (and, with ``keys``, the same compared units).

        Returns the pairs' columns sorted by demand point, and per merged row
        the start and stop of its first member's columns, its population and
        its signature key (``None`` without ``keys``).
        """
        order = np.lexsort((cols, rows))
        rows, cols = rows[order], cols[order]
        demand_with_pairs, counts = np.unique(rows, return_counts=True)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        member_keys = keys[demand_with_pairs] if keys is not None else None
        codes, first = merge_rows(indptr, cols, n_cols, keys=member_keys, seed=ki + 1)
        # Each merged row keeps the covering set of its first member.
        starts = indptr[first]
        stops = indptr[first + 1]
        weights = pd.Series(pop[demand_with_pairs]).groupby(codes, sort=False).sum().to_numpy(dtype=float)
        row_keys = member_keys[first] if member_keys is not None else None
        return cols, starts, stops, weights, row_keys

    def _cover_rows(
        self,
        prob: pulp.LpProblem,
        ki: int,
        type_id: str,
        cols: np.ndarray,
        starts: np.ndarray,
        stops: np.ndarray,
        weights: np.ndarray,
        units: _RowUnits,
    ) -> list[tuple[pulp.LpVariable, float]]:
        """Uncapacitated: ``z[r] ≤ Σ_{j covers r} y[k, j]`` per merged row; returns the coverage terms."""
        ys = self.y[type_id]
        expr_terms: list[tuple[pulp.LpVariable, float]] = []
        for r, (start, stop, w) in enumerate(zip(starts.tolist(), stops.tolist(), weights.tolist(), strict=False)):
            z = pulp.LpVariable(f"z_{ki}_{r}", lowBound=0, upBound=1)
            cover = pulp.LpAffineExpression([(ys[c], 1.0) for c in cols[start:stop].tolist()])
            cover.addterm(z, -1.0)
            prob.addConstraint(pulp.LpConstraint(cover, pulp.LpConstraintGE, rhs=0), name=f"cov_{ki}_{r}")
            expr_terms.append((z, w))
            units.add(r, z, w)
        return expr_terms

    def _assign_rows(
        self,
        prob: pulp.LpProblem,
        ki: int,
        type_id: str,
        td: _TypeData,
        cols: np.ndarray,
        starts: np.ndarray,
        stops: np.ndarray,
        weights: np.ndarray,
        units: _RowUnits,
    ) -> list[tuple[pulp.LpVariable, float]]:
        """Capacitated: assign each merged row's people to open sites within capacity; returns the coverage terms."""
        ys = self.y[type_id]
        expr_terms: list[tuple[pulp.LpVariable, float]] = []
        load: dict[int, list[tuple[pulp.LpVariable, float]]] = {}
        for r, (start, stop, w) in enumerate(zip(starts.tolist(), stops.tolist(), weights.tolist(), strict=False)):
            xs = []
            for c in cols[start:stop].tolist():
                x = pulp.LpVariable(f"x_{ki}_{r}_{c}", lowBound=0, upBound=1)
                xs.append((x, 1.0))
                load.setdefault(c, []).append((x, w))
                if c < len(td.sites) and self.strong_linking:
                    link = pulp.LpAffineExpression([(x, 1.0), (ys[c], -1.0)])
                    prob.addConstraint(pulp.LpConstraint(link, pulp.LpConstraintLE, rhs=0))
                expr_terms.append((x, w))
                units.add(r, x, w)
            prob.addConstraint(
                pulp.LpConstraint(pulp.LpAffineExpression(xs), pulp.LpConstraintLE, rhs=1), name=f"assign_{ki}_{r}"
            )
        self._capacity_rows(prob, ki, td, ys, load)
        return expr_terms

    def _capacity_rows(
        self,
        prob: pulp.LpProblem,
        ki: int,
        td: _TypeData,
        ys: list[pulp.LpVariable],
        load: dict[int, list[tuple[pulp.LpVariable, float]]],
    ) -> None:
        """``Σ_r P_r x[r, j] ≤ cap_j · y[k, j]`` at candidate sites, ``≤ cap_j`` at existing facilities."""
        assert td.ftype.capacity is not None  # only capacitated types assign people
        cap = float(td.ftype.capacity)
        facilities = self.scenario.region.facilities
        fac_caps = (
            facilities["capacity"].to_numpy(dtype=float)
            if "capacity" in facilities
            else np.full(len(self.fac_xy), np.nan)
        )
        for c, terms in load.items():
            e = pulp.LpAffineExpression(terms)
            if c < len(td.sites):
                e.addterm(ys[c], -cap)
                prob.addConstraint(pulp.LpConstraint(e, pulp.LpConstraintLE, rhs=0), name=f"cap_{ki}_{c}")
            else:
                fac = td.existing[c - len(td.sites)]
                fcap = fac_caps[fac] if np.isfinite(fac_caps[fac]) else cap
                prob.addConstraint(pulp.LpConstraint(e, pulp.LpConstraintLE, rhs=fcap), name=f"excap_{ki}_{c}")

    def _access_terms(
        self, prob: pulp.LpProblem, ki: int, type_id: str, td: _TypeData
    ) -> tuple[pulp.LpAffineExpression, float]:
        """Population-weighted distance (km) of one type: baseline minus savings from closer new sites."""
        return _access_terms(self, prob, ki, type_id, td)

    def _standards(self, prob: pulp.LpProblem) -> pulp.LpAffineExpression:
        """Standards constraints; returns the penalty expression of soft shortfalls."""
        sc = self.scenario
        penalty = pulp.LpAffineExpression()
        site_units = self.site_units
        sites_by_unit = site_units.groupby("unit_id")["row"].apply(lambda s: s.to_numpy())
        fac = sc.region.facilities
        fac_units = self.fac_units.assign(
            facility_type=fac["facility_type"].astype(str).to_numpy()[self.fac_units["row"]]
        )
        existing_counts = fac_units.groupby(["unit_id", "facility_type"]).size()
        self.existing_counts = existing_counts
        pos_in_type = {t: {int(j): p for p, j in enumerate(td.sites)} for t, td in self.types.items()}
        for s_idx, std in enumerate(sc.standard_list()):
            have = int(existing_counts.get((std.unit_id, std.facility_type), 0))
            need = std.count - have
            if need <= 0:
                continue
            lookup = pos_in_type[std.facility_type]
            site_rows = sites_by_unit.get(std.unit_id, np.empty(0, np.int64))
            ys = [self.y[std.facility_type][lookup[j]] for j in site_rows.tolist() if j in lookup]
            self.standard_rows.append((std, need, ys))
            if not std.hard and not ys:
                # Nothing the plan can do (no eligible site in the unit): a
                # constant penalty would only inflate the objective. The
                # standard is reported as unmet for "no candidate site".
                continue
            expr = pulp.LpAffineExpression([(v, 1.0) for v in ys])
            if not std.hard:
                s = pulp.LpVariable(f"short_{s_idx}", lowBound=0, upBound=need)
                self.shortfall[std] = s
                expr.addterm(s, 1.0)
                penalty.addterm(s, std.penalty)
            elif not ys:
                # Reported by diagnose(); the constraint below makes the model infeasible.
                pass
            prob.addConstraint(pulp.LpConstraint(expr, pulp.LpConstraintGE, rhs=need), name=f"std_{s_idx}")
        return penalty

    def _budget_caps(self, prob: pulp.LpProblem) -> None:
        """Per-unit and per-family budget caps (``cap_<i>_<unit>``, ``family_<family>``)."""
        sc = self.scenario
        units = sc.region.admin_units
        site_units = self.site_units
        sites_by_unit = site_units.groupby("unit_id")["row"].apply(lambda s: set(s.to_numpy().tolist()))
        self.unit_caps = {}
        for i, cap in enumerate(sc.budget.per_unit):
            targets = units.index[units["level"].isin(cap.levels)].astype(str)
            for unit_id in targets:
                amount = cap.overrides.get(unit_id, cap.amount)
                if amount is None:
                    continue
                inside = sites_by_unit.get(unit_id, set())
                if not inside:
                    continue
                terms = []
                for type_id, td in self.types.items():
                    for pos, j in enumerate(td.sites.tolist()):
                        if j in inside and td.ftype.cost:
                            terms.append((self.y[type_id][pos], td.ftype.cost))
                if terms:
                    prob += (pulp.LpAffineExpression(terms) <= amount, f"cap_{i}_{unit_id}")
                    self.unit_caps[f"cap_{i}_{unit_id}"] = str(unit_id)
        for family, amount in sc.budget.per_family.items():
            terms = []
            for type_id, td in self.types.items():
                if td.ftype.family == family and td.ftype.cost:
                    terms.extend((v, td.ftype.cost) for v in self.y[type_id])
            if terms:
                prob += (pulp.LpAffineExpression(terms) <= amount, f"family_{family}")

    @staticmethod
    def _measure(prob: pulp.LpProblem) -> ModelSize:
        size = ModelSize()
        size.rows = len(prob.constraints)
        variables = prob.variables()
        size.columns = len(variables)
        size.binaries = sum(1 for v in variables if v.cat == pulp.LpInteger)
        size.nonzeros = sum(len(c) for c in prob.constraints.values())
        return size

    # ================================================================== diagnosis
    def _min_cost_of_standards(self, rows: list[StandardRow], required: list[pulp.LpVariable]) -> float | None:
        """Least cost (a proven lower bound) of meeting ``rows`` (hard standards) with the ``required`` sites built."""
        return _min_cost_of_standards(self, rows, required)

    def budget_shortfalls(self, details: bool = False) -> list[str]:
        """Hard standards that the budget cannot pay for, with the shortfall in yuan.

        For the total budget, each family cap and each per-unit cap, the
        cheapest way to meet the hard standards in its scope (required sites
        included, coverage ignored) is computed exactly by a small integer
        program; where it exceeds the cap, the finding names the scope, the
        cheapest cost, the cap and the shortfall, followed by the standards
        in that scope (unit, facility type, how many are missing, their cost).
        An empty list means money is not why the hard standards fail.

        Parameters
        ----------
        details
            List every standard of every scope. By default a scope with more
            than :data:`DIAGNOSIS_LIMIT` standards is summarised by level,
            type and parent unit, and at most that many lines and scopes are
            listed, each list ending with "… and N more".
        """
        return _budget_shortfalls(self, details)

    def diagnose(self, details: bool = False) -> list[str]:
        """Plain-language reasons why no plan can satisfy the hard constraints.

        Hard standards without enough sites are listed one per line when
        there are at most :data:`DIAGNOSIS_LIMIT` of them (or ``details``);
        otherwise summarised by level, type and parent unit ("35 townships
        of 舟山市 (330900) have no candidate site for 'cultural_station'"),
        at most that many lines, ending with "… and N more".
        """
        return _diagnose(self, details)

    def _keep_stage1_plan(
        self, plan: dict[str, float | None], report: SolveReport, options: SolverOptions
    ) -> SolveReport:
        """Equity stage 2 stopped without a plan: report the stage-1 sites instead of nothing.

        The stage-1 sites reach the minimum rate that stage 2 holds, so they
        are a plan of stage 2 too (HiGHS is given no start, see
        benchmarks/README.md, and may not find one in time). Stage 1 does not
        push every coverage variable up, so the sites are fixed and stage 2 is
        solved again for the rest (coverage, shortfalls: an easy LP once the
        sites are fixed). Reported as ``feasible``, with the gap to the bound
        of the stopped stage-2 solve.
        """
        site_vars = [v for ys in self.y.values() for v in ys]
        bounds = [(v.lowBound, v.upBound) for v in site_vars]
        try:
            for v in site_vars:
                value = round(plan.get(v.name) or 0.0)
                v.lowBound = v.upBound = value
            fixed = solve_problem(self.problem, options)
        finally:
            for v, (low, up) in zip(site_vars, bounds, strict=False):
                v.lowBound, v.upBound = low, up
        if not fixed.has_solution:
            return report
        return _stage1_kept(report, fixed.objective)

    def _begin_equity_stage2(self, prob: pulp.LpProblem) -> dict[str, float | None]:
        """Hold stage 1's minimum rate (row ``equity_hold``, less ``equity.tolerance``), set the coverage objective.

        Returns stage 1's plan (every variable's value), from which stage 2 starts.
        """
        stage1_plan = {v.name: v.varValue for v in prob.variables()}
        tolerance = self.scenario.objective.equity.tolerance
        prob += (self.t >= max(0.0, float(self.t.varValue or 0.0) - tolerance), "equity_hold")
        prob.setObjective(self.main_objective)
        return stage1_plan

    def _undo_equity_stage2(self, prob: pulp.LpProblem) -> None:
        """Take out what a previous solve's equity stage 2 left in the problem (its row, its objective).

        Solving again — e.g. after adding a row to ``model.problem`` — then runs
        both stages afresh on the problem as it now is, instead of failing on a
        second ``equity_hold`` row or starting from a stale minimum rate.
        """
        constraint_dict(prob).pop("equity_hold", None)
        if prob.objective is self.main_objective:
            prob.setObjective(pulp.LpAffineExpression([(self.t, 1.0)]))

    def check_hard_standards(self, details: bool = False) -> None:
        """Raise :class:`InfeasibleError` if the hard standards cannot hold, before any solve.

        Two exact checks: a standard with fewer eligible sites in its unit
        than facilities missing, and hard standards the budget (total,
        family or unit caps) cannot pay for. ``details``: the diagnosis lists
        every standard instead of a summary (``regionopt validate --details``).
        """
        return _check_hard_standards(self, details)

    # ================================================================== solve
    def _attendance_terms(self, prob: pulp.LpProblem, ki: int, td: _TypeData) -> tuple[pulp.LpAffineExpression, float]:
        """Attending people of one type: the existing share plus the gain of the best open new site in reach.

        ``Σ_i P_i b_i + Σ_ij P_i (a_ij − b_i) x_ij`` with ``x_ij <= y_j`` and
        ``Σ_j x_ij <= 1``: at an optimum each demand point takes the largest
        gain, i.e. its nearest open facility, so the value is exactly
        ``Σ_i P_i max(b_i, max_{j open} a_ij)``.
        """
        return _attendance_terms(self, prob, ki, td)

    # ------------------------------------------------------------------ leximin and Kolm-Pollak
    def _solve_leximin(self, options: SolverOptions, stages: list[SolveReport]) -> SolveReport:
        r"""Lexicographic max-min of the compared units' rates (Ogryczak & Śliwiński 2006), then coverage.

        Stage :math:`k = 1 … K` maximises the sum of the :math:`k` smallest
        rates, :math:`\theta_k = k t_k - \sum_u d_{uk}` with
        :math:`d_{uk} \ge t_k - r_u,\ d_{uk} \ge 0` (the ordered-outcome LP
        form, exact for any plan), and then holds
        :math:`\theta_k \ge \theta_k^* - \text{tolerance}`. Maximising every
        cumulative sum in turn is leximin: the worst rate first, then the
        second worst, … over all compared units. A last stage maximises the
        ``coverage`` objective with all of them held. :math:`K` + 1 MIP solves.
        """
        return _solve_leximin(self, options, stages)

    def _solve_kolm_pollak(
        self, options: SolverOptions, stages: list[SolveReport], max_iterations: int = 50
    ) -> SolveReport:
        r"""Maximise the Kolm-Pollak equally-distributed equivalent of the compared units' rates.

        :math:`\mathrm{EDE} = -\frac1\kappa \ln \frac{\sum_u w_u e^{-\kappa r_u}}{\sum_u w_u}`
        (Kolm 1976; Pollak 1971; Horton et al. 2024), :math:`w_u` the unit's
        weighted population, :math:`\kappa` = ``equity.aversion``. Maximising
        it is minimising the convex :math:`\sum_u w_u e^{-\kappa r_u}`, solved
        exactly by outer approximation on :math:`s_u = e^{\kappa (1 - r_u)}`
        (the same minimiser, better scaled for the solver's tolerances):
        :math:`s_u \ge e^{\kappa (1 - \bar r)} (1 - \kappa (r_u - \bar r))` at 11 rates :math:`\bar r = 0, 0.1, …, 1`,
        then at each plan's rates, until the MIP's bound and the plan's true
        value agree within ``equity.tolerance`` (relative). Objective: maximise
        :math:`-\sum_u w_u s_u` − penalties − the cost tie-break (people
        units, like ``coverage``); the gap is measured on that sum. The
        reported objective is the EDE rate of the plan.
        """
        return _solve_kolm_pollak(self, options, stages, max_iterations)

    def _solve_first_stage(self, options: SolverOptions, stages: list[SolveReport]) -> SolveReport:
        """The objective's own solve (equity: stage 1), its reports appended to ``stages``."""
        sc, prob = self.scenario, self.problem
        if sc.objective.kind == "leximin":
            return self._solve_leximin(options, stages)
        if sc.objective.kind == "kolm_pollak" and not kp_over_time(sc):
            return self._solve_kolm_pollak(options, stages)
        if sc.objective.kind == "access" and self.access_radius and options.name == "highs":
            return solve_access(self, options)  # LP bound, LP plan, reduced-cost fixing (planning/access_solve.py)
        if kp_over_time(sc):
            report = kp_time_report(self, solve_problem(prob, options))
        elif sc.objective.kind == "min_cost" and self.min_cost_count_cuts and options.name == "highs":
            report = solve_min_cost(self, options)
        elif sc.objective.kind == "equity" and self.equity_level_search:
            report = _solve_equity_stage1(self, options)
        elif options.name == "highs" and lp_guided_pays(self, options.mip_gap):
            report = solve_lp_guided(self, options)
        else:
            report = solve_problem(prob, options)
        stages.append(report)
        return report

    def solve(self, options: SolverOptions | None = None) -> PlanResult:
        """Solve and return a :class:`~optimizer.result.PlanResult`.

        Raises
        ------
        InfeasibleError
            With a diagnosis, when no plan meets the hard constraints.
        SolverError
            When the solver fails or stops without any plan.
        """

        prob = self.problem
        options = options or self.scenario.solver_options
        sc = self.scenario
        self.check_hard_standards()
        if sc.objective.kind == "equity":
            self._undo_equity_stage2(prob)
        t0 = time.perf_counter()
        stages: list[SolveReport] = []
        report = self._solve_first_stage(options, stages)
        if sc.objective.kind == "equity" and report.has_solution:
            stage1_plan = self._begin_equity_stage2(prob)
            report2 = _solve_equity_stage2(self, stage1_plan, options) if self.equity_level_search else None
            report2 = report2 or solve_problem(prob, options)
            if report2.status == "no_solution":
                report2 = self._keep_stage1_plan(stage1_plan, report2, options)
            stages.append(report2)
            report = _combine(report, report2)
        self.timings["solve"] = time.perf_counter() - t0
        if report.status == "infeasible":
            raise InfeasibleError(
                "no plan satisfies the hard constraints",
                diagnosis=self.diagnose(),
                file=sc.source_path,
                hint="relax what the diagnosis names (budget, caps, targets, required sites, standards)",
            )
        if report.status == "no_solution":
            limit = f" within the time limit of {options.time_limit:g} s" if options.time_limit else ""
            raise SolverError(
                f"{options.name} found no plan{limit} (no_solution: {report.message}); nothing was written",
                file=sc.source_path,
                row=config_line(sc.config, "solver", "time_limit"),
                field="solver.time_limit",
                hint="raise solver.time_limit, or make the problem smaller or easier (fewer sites, softer standards)",
            )
        if report.status in ("error", "unbounded"):
            raise SolverError(
                f"{options.name} found no plan ({report.status}: {report.message}); nothing was written",
                file=sc.source_path,
                field="solver",
                hint="try the other solver (solver.name: cbc or highs); if it fails too, report this as a bug "
                "with the scenario",
            )
        chosen = []
        for type_id, ys in self.y.items():
            td = self.types[type_id]
            for pos, v in enumerate(ys):
                if v.varValue is not None and v.varValue > 0.5:
                    chosen.append((int(td.sites[pos]), type_id))
        return PlanResult.from_model(self, chosen, with_competitors(self, report), stages)


def solve_scenario(scenario: Scenario, options: SolverOptions | None = None) -> PlanResult:
    """Build and solve ``scenario``; shorthand for ``PlanningModel(scenario).solve(options)``."""
    return PlanningModel(scenario).solve(options)
