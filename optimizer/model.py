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
    pairs enter the model: ``Σ_j x[i, j] ≤ 1``, ``x[i, j] ≤ y[k, j]``,
    minimise ``Σ w_k p_i (D0_i − Σ_j (D0_i − d_ij) x[i, j])``.
Standards
    ``existing + Σ_{j in unit} y[k, j] (+ shortfall) ≥ required`` per admin
    unit and required type; hard (no shortfall) or soft (shortfall penalised).
Budget
    Total, per admin unit (levels chosen in the scenario) and per family.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pulp

from .catalogue import FacilityType
from .config import config_line
from .distance import coverage_pairs, nearest_distance, planar_xy
from .errors import InfeasibleError, ModelTooLargeError, SolverError
from .scenario import Scenario, Standard
from .solvers import SolveReport, SolverOptions, relative_gap, solve_problem

__all__ = ["PlanningModel", "ModelSize", "solve_scenario", "default_unit_levels"]

# Peak memory (bytes) of building a model with PuLP, handing it to HiGHS,
# solving and evaluating it, per nonzero / variable / row plus a fixed part.
# Calibrated (docs/errors.md, "Model too large for memory") by least squares
# against the peak RSS of 12 runs — uncapacitated and capacitated coverage,
# equity, min_cost and access; 2,000-40,000 demand points, 300-2,000 sites;
# 0.03-2.5 GiB — which gave about 73 B/nonzero, 3.1 kB/variable, 290 B/row
# and 20 MB; the constants below are those rounded up by roughly 2x.
# ``estimate_size`` counts rows, columns and nonzeros *before* demand rows with
# equal covering sets are merged, so the estimate is an upper bound: checked
# on 11 further runs (1.06-3.4x the measured peak: tightest for access models,
# loosest for uncapacitated coverage) and on the Zhejiang default (1.3 GiB
# estimated, 0.57 GiB measured).
_BYTES_PER_NONZERO = 150
_BYTES_PER_VARIABLE = 4500
_BYTES_PER_ROW = 600
_BYTES_FIXED = 64 * 2**20


@dataclass
class ModelSize:
    """Rows, columns and nonzeros of the built model, plus the coverage pairs behind them."""

    rows: int = 0
    columns: int = 0
    nonzeros: int = 0
    binaries: int = 0
    coverage_pairs: int = 0
    demand_points: int = 0
    merged_rows: int = 0
    estimated_bytes: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


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


def default_unit_levels(scenario: Scenario) -> list[str]:
    """The finest admin levels that have polygons — "counties" in Zhejiang.

    These are the units equity compares unless the scenario names others.
    """
    units = scenario.region.admin_units
    has_geom = ~(units.geometry.isna() | units.geometry.is_empty)
    polygon_units = units[has_geom]
    parents_with_polygon_children = set(polygon_units["parent_id"].dropna())
    finest = polygon_units[~polygon_units.index.isin(parents_with_polygon_children)]
    return list(dict.fromkeys(finest["level"]))


def _row_keys(indptr: np.ndarray, indices: np.ndarray, m: int, seed: int = 12345) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes of each CSR row's column set (order-free).

    Rows with equal keys have the same covering set with overwhelming
    probability (2^-128 per pair), which is what merging needs; computed in
    bulk with numpy rather than row by row in Python.
    """
    rng = np.random.default_rng(seed)
    r1 = rng.integers(0, 2**63 - 1, size=m, dtype=np.int64).astype(np.uint64)
    r2 = rng.integers(0, 2**63 - 1, size=m, dtype=np.int64).astype(np.uint64)
    n = len(indptr) - 1
    h1 = np.zeros(n, dtype=np.uint64)
    h2 = np.zeros(n, dtype=np.uint64)
    counts = np.diff(indptr)
    nonempty = counts > 0
    if len(indices):
        with np.errstate(over="ignore"):
            s1 = np.add.reduceat(r1[indices], indptr[:-1][nonempty])
            s2 = np.add.reduceat(r2[indices] * np.uint64(0x9E3779B97F4A7C15), indptr[:-1][nonempty])
        h1[nonempty] = s1
        h2[nonempty] = s2 ^ counts[nonempty].astype(np.uint64)
    return h1, h2


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
        # x[r, j] <= y[k, j] tightens the LP of capacitated types but, measured
        # on the Zhejiang default, costs more in rows than it saves in search
        # (solve 37 s with it, 24 s without); capacity rows already force
        # x = 0 at closed sites.
        self.strong_linking = False

    # ================================================================== preparation
    def prepare(self) -> "PlanningModel":
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
        self.urban = (
            region.demand["urban"].to_numpy(dtype=bool) if "urban" in region.demand else np.zeros(len(region.demand), bool)
        )

        # Site / facility / demand membership in admin units (ancestors included).
        self.site_units = region.unit_membership(region.candidates["unit_id"].astype(str))
        self.fac_units = region.unit_membership(region.facilities["unit_id"].astype(str))
        self.site_ids = region.candidates.index.astype(str).to_numpy()

        self.required = {(r.site_id, r.facility_type) for r in sc.sites.required}
        eligible = sc.eligible_sites()
        fac_types = region.facilities["facility_type"].astype(str).to_numpy()

        self.types: dict[str, _TypeData] = {}
        objective = sc.objective.kind
        for type_id, ftype in sc.catalogue.items():
            allowed = eligible[type_id]
            td = _TypeData(
                ftype=ftype,
                population=region.group_population(ftype.serves),
                sites=np.flatnonzero(allowed),
                existing=np.flatnonzero(fac_types == type_id),
            )
            radius = ftype.radius_m(self.urban)
            if objective == "access":
                cap = (sc.objective.access_cap_km * 1000.0) if sc.objective.access_cap_km else 3.0 * ftype.rural.radius_m()
                d_exist, _ = nearest_distance(self.demand_xy, self.fac_xy[td.existing])
                td.baseline = np.minimum(d_exist, cap)
                self._count_pairs_first(self.site_xy[td.sites], float(td.baseline.max(initial=0.0)), type_id)
                rows, cols, dist = coverage_pairs(self.demand_xy, self.site_xy[td.sites], td.baseline)
                keep = (dist < td.baseline[rows]) & (td.population[rows] > 0)
                td.rows, td.cols, td.dist = rows[keep], cols[keep], dist[keep]
            else:
                self._count_pairs_first(self.site_xy[td.sites], float(np.max(radius, initial=0.0)), type_id)
                td.rows, td.cols, td.dist = coverage_pairs(self.demand_xy, self.site_xy[td.sites], radius)
                td.ex_rows, td.ex_cols, _ = coverage_pairs(self.demand_xy, self.fac_xy[td.existing], radius)
            self.types[type_id] = td
        self.timings["coverage"] = time.perf_counter() - t0
        self._prepared = True
        return self

    # ------------------------------------------------------------------ helpers
    def _compare_keys(self) -> tuple[np.ndarray, list[str]]:
        """For the equity objective: which compared unit each demand point falls in (-1 = none)."""
        sc = self.scenario
        region = sc.region
        eq = sc.objective.equity
        n = len(region.demand)
        membership = region.unit_membership(region.demand["unit_id"].astype(str))
        units = region.admin_units
        if eq.compare == "group_vs_rest":
            flag = units[eq.group].fillna(False).astype(bool)
            in_group = membership[membership["unit_id"].map(flag).fillna(False).astype(bool)]["row"].unique()
            keys = np.ones(n, dtype=np.int64)
            keys[in_group] = 0
            return keys, [f"{eq.group}", f"not {eq.group}"]
        levels = eq.levels or default_unit_levels(sc)
        compared = units[units["level"].isin(levels)]
        if eq.compare == "units_in_group":
            compared = compared[compared[eq.group].fillna(False).astype(bool)]
        labels = list(compared.index.astype(str))
        pos = {u: i for i, u in enumerate(labels)}
        keys = np.full(n, -1, dtype=np.int64)
        hit = membership[membership["unit_id"].isin(pos)]
        keys[hit["row"].to_numpy()] = hit["unit_id"].map(pos).to_numpy()
        return keys, labels

    def estimate_size(self) -> ModelSize:
        """Upper bounds on the rows, columns and nonzeros of the model, before building it.

        Counted from the coverage pairs before demand rows are merged, so the
        built model is never larger (usually smaller: see :attr:`size`).
        """
        self.prepare()
        sc = self.scenario
        kind = sc.objective.kind
        n_levels = len(sc.standards.levels)
        size = ModelSize(demand_points=len(sc.region.demand))
        rows = cols = nnz = 0
        for td in self.types.values():
            pairs, ex_pairs, sites = len(td.rows), len(td.ex_rows), len(td.sites)
            size.coverage_pairs += pairs + ex_pairs
            size.binaries += sites
            cols += sites
            # y in the total budget, standards of each level, per-unit caps, family cap
            nnz += sites * (1 + n_levels + len(sc.budget.per_unit) + (td.ftype.family in sc.budget.per_family))
            if kind == "access":  # a[i, j] per pair: link row (2 nonzeros) + nearest row (1)
                demand = np.unique(td.rows).size
                cols += pairs
                rows += pairs + demand
                nnz += 3 * pairs
            elif td.ftype.capacity is not None:  # x[r, j] per pair (new and existing sites)
                demand = np.unique(np.concatenate([td.rows, td.ex_rows])).size
                cols += pairs + ex_pairs
                rows += demand + sites + len(td.existing)
                nnz += 2 * (pairs + ex_pairs) + sites
                if self.strong_linking:
                    rows += pairs
                    nnz += 2 * pairs
                # each x also in its unit's equity row, or in the type's coverage-target row
                nnz += (pairs + ex_pairs) * ((kind == "equity") + (td.ftype.type_id in sc.objective.coverage_targets))
            else:  # z[r] per demand row with a new site in reach
                demand = np.unique(td.rows).size
                cols += demand
                rows += demand
                nnz += pairs + demand
                nnz += demand * ((kind == "equity") + (td.ftype.type_id in sc.objective.coverage_targets))
        units = sc.region.admin_units
        n_standards = sum(
            int((units["level"] == level).sum()) * len(spec.required) for level, spec in sc.standards.levels.items()
        )
        n_caps = sum(int(units["level"].isin(cap.levels).sum()) for cap in sc.budget.per_unit)
        n_equity = len(units) if kind == "equity" else 0  # one row per compared unit, each with t
        n_targets = len(sc.objective.coverage_targets) if kind == "min_cost" else 0
        rows += 1 + n_standards + n_caps + len(sc.budget.per_family) + n_equity + n_targets
        cols += n_standards + (1 if kind == "equity" else 0)  # shortfalls of soft standards; t
        nnz += n_standards + n_equity
        size.rows, size.columns, size.nonzeros = rows, cols, nnz
        size.estimated_bytes = (
            nnz * _BYTES_PER_NONZERO + cols * _BYTES_PER_VARIABLE + rows * _BYTES_PER_ROW + _BYTES_FIXED
        )
        return size

    def _memory_limit(self) -> float:
        """Bytes a model may take: ``limits.max_memory_gb``, else 80% of the machine's memory."""
        limit_gb = self.scenario.limits.max_memory_gb
        if limit_gb is not None:
            return limit_gb * 2**30
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
            total = 16 * 2**30
        return 0.8 * total

    def _count_pairs_first(self, site_xy: np.ndarray, radius: float, type_id: str) -> None:
        """Refuse before computing coverage pairs that could not fit in memory.

        The pairs themselves (about 24 bytes each) come before the estimate;
        when demand x sites could exceed the limit, they are first counted
        without being stored (``cKDTree.count_neighbors``), and a count whose
        model would not fit is refused at once.
        """
        limit = self._memory_limit()
        if len(self.demand_xy) * len(site_xy) * _BYTES_PER_NONZERO <= limit or not len(site_xy):
            return
        from scipy.spatial import cKDTree

        pairs = int(cKDTree(self.demand_xy).count_neighbors(cKDTree(site_xy), radius + 1e-6))
        needed = pairs * _BYTES_PER_NONZERO + _BYTES_FIXED
        if needed > limit:
            raise self._too_large(
                needed,
                f"{pairs:,} coverage pairs for '{type_id}' alone, counted before computing them",
                limit,
            )

    def _too_large(self, needed: float, detail: str, limit: float) -> ModelTooLargeError:
        limit_gb = self.scenario.limits.max_memory_gb
        allowed = "limits.max_memory_gb" if limit_gb is not None else "80% of this machine's memory"
        return ModelTooLargeError(
            f"the model would need at least {_fmt_bytes(needed)} of memory ({detail}), more than the "
            f"{_fmt_bytes(limit)} allowed ({allowed}); nothing was built",
            file=self.scenario.source_path,
            row=config_line(self.scenario.config, "limits", "max_memory_gb") if limit_gb is not None else None,
            field="limits.max_memory_gb",
            hint="shorten service standards, coarsen the demand layer, restrict candidate sites "
            "(facility_types.<type>.sites) or raise limits.max_memory_gb",
        )

    def _check_memory(self) -> None:
        est = self.estimate_size()
        limit_gb = self.scenario.limits.max_memory_gb
        limit = self._memory_limit()
        if est.estimated_bytes > limit:
            allowed = "limits.max_memory_gb" if limit_gb is not None else "80% of this machine's memory"
            raise ModelTooLargeError(
                f"the model would need up to {_fmt_bytes(est.estimated_bytes)} of memory "
                f"({est.nonzeros:,} nonzeros, {est.columns:,} variables, {est.rows:,} rows from "
                f"{est.coverage_pairs:,} coverage pairs), more than the {_fmt_bytes(limit)} allowed ({allowed}); "
                "nothing was built",
                file=self.scenario.source_path,
                row=config_line(self.scenario.config, "limits", "max_memory_gb") if limit_gb is not None else None,
                field="limits.max_memory_gb",
                hint="shorten service standards, coarsen the demand layer, restrict candidate sites "
                "(facility_types.<type>.sites) or raise limits.max_memory_gb",
            )

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
        kind = sc.objective.kind
        sense = pulp.LpMinimize if kind in ("min_cost", "access") else pulp.LpMaximize
        prob = pulp.LpProblem(f"regionopt_{sc.name}".replace("-", "_").replace(".", "_"), sense)
        self._constraints: list[tuple[str, pulp.LpConstraint]] = []

        # ---- decisions: y[k][j] per eligible site
        self.y: dict[str, list[pulp.LpVariable]] = {}
        for ki, (type_id, td) in enumerate(self.types.items()):
            ys = []
            for pos, j in enumerate(td.sites):
                sid = self.site_ids[j]
                low = 1 if (sid, type_id) in self.required else 0
                # LpBinary would reset the bounds; an integer in [low, 1] keeps required sites fixed.
                ys.append(pulp.LpVariable(f"y_{ki}_{j}", lowBound=low, upBound=1, cat=pulp.LpInteger))
            self.y[type_id] = ys

        # ---- coverage / access expressions per type (and per compared unit for equity)
        self.coverage_expr: dict[str, pulp.LpAffineExpression] = {}
        self.coverage_const: dict[str, float] = {}
        self.total_population: dict[str, float] = {}
        merged_rows = 0
        if kind == "equity":
            keys, labels = self._compare_keys()
            self.compare_labels = labels
            self.unit_expr: dict[int, pulp.LpAffineExpression] = {}
            self.unit_denominator: dict[int, float] = {}
        else:
            keys, labels = None, []
        for ki, (type_id, td) in enumerate(self.types.items()):
            self.total_population[type_id] = float(td.population.sum())
            if kind == "access":
                expr, const = self._access_terms(prob, ki, type_id, td)
            else:
                expr, const, merged, per_unit = self._coverage_terms(prob, ki, type_id, td, keys)
                merged_rows += merged
                if kind == "equity":
                    w = sc.weight(type_id)
                    for key, (uexpr, uconst, upop) in per_unit.items():
                        e = self.unit_expr.setdefault(key, pulp.LpAffineExpression())
                        e.addInPlace(uexpr * w)
                        e.addInPlace(uconst * w)
                        self.unit_denominator[key] = self.unit_denominator.get(key, 0.0) + w * upop
            self.coverage_expr[type_id] = expr
            self.coverage_const[type_id] = const

        # ---- standards
        self.shortfall: dict[Standard, pulp.LpVariable] = {}
        self.standard_rows: list[tuple[Standard, int, list[pulp.LpVariable]]] = []
        penalty_expr = self._standards(prob)

        # ---- budget
        cost_expr = pulp.LpAffineExpression()
        for type_id, ys in self.y.items():
            cost = self.types[type_id].ftype.cost
            if ys and cost:
                cost_expr.addInPlace(pulp.LpAffineExpression([(v, cost) for v in ys]))
        self.cost_expr = cost_expr
        prob += (cost_expr <= sc.budget.total, "budget_total")
        self._budget_caps(prob)

        # ---- objective
        max_cost = max((td.ftype.cost for td in self.types.values()), default=0.0) or 1.0
        # A tie-break so leftover budget is not spent on facilities that add
        # nothing; worth at most 0.001 objective units per facility, far below
        # one person, so it never trades real coverage.
        eps = 1e-3 / max_cost
        if kind == "coverage":
            obj = pulp.LpAffineExpression()
            for type_id, expr in self.coverage_expr.items():
                obj.addInPlace(expr * sc.weight(type_id))
            self.main_objective = obj - penalty_expr - eps * cost_expr
            prob.setObjective(self.main_objective)
        elif kind == "equity":
            self.t = pulp.LpVariable("min_rate", lowBound=0, upBound=1)
            for key, e in self.unit_expr.items():
                d = self.unit_denominator.get(key, 0.0)
                if d > 0:
                    prob += (e - d * self.t >= 0, f"equity_{key}")
            obj = pulp.LpAffineExpression()
            for type_id, expr in self.coverage_expr.items():
                obj.addInPlace(expr * sc.weight(type_id))
            self.main_objective = obj - penalty_expr - eps * cost_expr
            prob.setObjective(pulp.LpAffineExpression([(self.t, 1.0)]))
        elif kind == "min_cost":
            for type_id, share in sc.objective.coverage_targets.items():
                target = share * self.total_population[type_id]
                prob += (self.coverage_expr[type_id] >= target, f"target_{type_id}")
            self.main_objective = cost_expr + penalty_expr
            prob.setObjective(self.main_objective)
        else:  # access
            obj = pulp.LpAffineExpression()
            for type_id, expr in self.coverage_expr.items():
                obj.addInPlace(expr * sc.weight(type_id))
            self.main_objective = obj + penalty_expr + eps * cost_expr
            prob.setObjective(self.main_objective)

        self._problem = prob
        self.timings["build"] = time.perf_counter() - t0
        estimate = self.estimate_size()
        self.size = self._measure(prob)
        self.size.merged_rows = merged_rows
        self.size.coverage_pairs = estimate.coverage_pairs
        self.size.demand_points = estimate.demand_points
        self.size.estimated_bytes = estimate.estimated_bytes
        return prob

    def _coverage_terms(self, prob, ki, type_id, td: _TypeData, keys):
        """Coverage of one type: constant (already covered) + merged-row variables."""
        n = len(td.population)
        pop = td.population
        ftype = td.ftype
        capacitated = ftype.capacity is not None
        per_unit: dict[int, tuple] = {}
        if capacitated:
            covered0 = np.zeros(n, bool)
        else:
            covered0 = np.zeros(n, bool)
            covered0[td.ex_rows] = True
        const = float(pop[covered0].sum())
        if keys is not None:
            for key in np.unique(keys[keys >= 0]):
                mask = keys == key
                per_unit[int(key)] = [pulp.LpAffineExpression(), float(pop[mask & covered0].sum()), float(pop[mask].sum())]

        # Pairs that matter: demand with people, not already covered (uncapacitated).
        if capacitated:
            # Existing facilities join the assignment as always-open sites.
            rows = np.concatenate([td.rows, td.ex_rows])
            cols = np.concatenate([td.cols, len(td.sites) + td.ex_cols])
        else:
            rows, cols = td.rows, td.cols
        keep = (pop[rows] > 0) & ~covered0[rows]
        rows, cols = rows[keep], cols[keep]
        n_cols = len(td.sites) + (len(td.existing) if capacitated else 0)
        if len(rows) == 0:
            return pulp.LpAffineExpression() + const, const, 0, {k: tuple(v) for k, v in per_unit.items()}
        order = np.lexsort((cols, rows))
        rows, cols = rows[order], cols[order]
        demand_with_pairs, counts = np.unique(rows, return_counts=True)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        h1, h2 = _row_keys(indptr, cols, max(n_cols, 1), seed=ki + 1)
        frame = pd.DataFrame({"h1": h1, "h2": h2, "row": np.arange(len(demand_with_pairs)), "pop": pop[demand_with_pairs]})
        if keys is not None:
            frame["key"] = keys[demand_with_pairs]
            group_cols = ["h1", "h2", "key"]
        else:
            group_cols = ["h1", "h2"]
        grouped = frame.groupby(group_cols, sort=False).agg(row=("row", "first"), pop=("pop", "sum"))
        merged = len(grouped)
        # Each merged row keeps the covering set of its first member.
        starts = indptr[grouped["row"].to_numpy()]
        stops = indptr[grouped["row"].to_numpy() + 1]
        weights = grouped["pop"].to_numpy(dtype=float)
        row_keys = grouped.index.get_level_values("key").to_numpy() if keys is not None else None
        ys = self.y[type_id]
        expr_terms: list[tuple[pulp.LpVariable, float]] = []
        if not capacitated:
            for r, (start, stop, w) in enumerate(zip(starts.tolist(), stops.tolist(), weights.tolist())):
                z = pulp.LpVariable(f"z_{ki}_{r}", lowBound=0, upBound=1)
                cover = pulp.LpAffineExpression([(ys[c], 1.0) for c in cols[start:stop].tolist()])
                cover.addterm(z, -1.0)
                prob.addConstraint(pulp.LpConstraint(cover, pulp.LpConstraintGE, rhs=0), name=f"cov_{ki}_{r}")
                expr_terms.append((z, w))
                if row_keys is not None and row_keys[r] >= 0:
                    per_unit[int(row_keys[r])][0].addterm(z, w)
        else:
            cap = float(ftype.capacity)
            fac_caps = self.scenario.region.facilities["capacity"].to_numpy(dtype=float) if "capacity" in self.scenario.region.facilities else np.full(len(self.fac_xy), np.nan)
            load: dict[int, list[tuple[pulp.LpVariable, float]]] = {}
            for r, (start, stop, w) in enumerate(zip(starts.tolist(), stops.tolist(), weights.tolist())):
                xs = []
                for c in cols[start:stop].tolist():
                    x = pulp.LpVariable(f"x_{ki}_{r}_{c}", lowBound=0, upBound=1)
                    xs.append((x, 1.0))
                    load.setdefault(c, []).append((x, w))
                    if c < len(td.sites) and self.strong_linking:
                        link = pulp.LpAffineExpression([(x, 1.0), (ys[c], -1.0)])
                        prob.addConstraint(pulp.LpConstraint(link, pulp.LpConstraintLE, rhs=0))
                    expr_terms.append((x, w))
                    if row_keys is not None and row_keys[r] >= 0:
                        per_unit[int(row_keys[r])][0].addterm(x, w)
                prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(xs), pulp.LpConstraintLE, rhs=1), name=f"assign_{ki}_{r}")
            for c, terms in load.items():
                e = pulp.LpAffineExpression(terms)
                if c < len(td.sites):
                    e.addterm(ys[c], -cap)
                    prob.addConstraint(pulp.LpConstraint(e, pulp.LpConstraintLE, rhs=0), name=f"cap_{ki}_{c}")
                else:
                    fac = td.existing[c - len(td.sites)]
                    fcap = fac_caps[fac] if np.isfinite(fac_caps[fac]) else cap
                    prob.addConstraint(pulp.LpConstraint(e, pulp.LpConstraintLE, rhs=fcap), name=f"excap_{ki}_{c}")
        return pulp.LpAffineExpression(expr_terms) + const, const, merged, {k: tuple(v) for k, v in per_unit.items()}

    def _access_terms(self, prob, ki, type_id, td: _TypeData):
        """Population-weighted distance (km) of one type: baseline minus savings from closer new sites."""
        pop = td.population
        base_km = td.baseline / 1000.0
        const = float((pop * base_km).sum())
        ys = self.y[type_id]
        if len(td.rows) == 0:
            return pulp.LpAffineExpression() + const, const
        saving = pop[td.rows] * (td.baseline[td.rows] - td.dist) / 1000.0
        terms = []
        demand_rows, starts = np.unique(td.rows, return_index=True)
        stops = np.append(starts[1:], len(td.rows))
        for i, start, stop in zip(demand_rows.tolist(), starts.tolist(), stops.tolist()):
            xs = []
            for p in range(start, stop):
                c = int(td.cols[p])
                x = pulp.LpVariable(f"a_{ki}_{i}_{c}", lowBound=0, upBound=1)
                xs.append((x, 1.0))
                terms.append((x, -float(saving[p])))
                prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(x, 1.0), (ys[c], -1.0)]), pulp.LpConstraintLE, rhs=0))
            prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(xs), pulp.LpConstraintLE, rhs=1), name=f"near_{ki}_{i}")
        return pulp.LpAffineExpression(terms) + const, const

    def _standards(self, prob) -> pulp.LpAffineExpression:
        """Standards constraints; returns the penalty expression of soft shortfalls."""
        sc = self.scenario
        penalty = pulp.LpAffineExpression()
        site_units = self.site_units
        sites_by_unit = site_units.groupby("unit_id")["row"].apply(lambda s: s.to_numpy())
        fac = sc.region.facilities
        fac_units = self.fac_units.assign(facility_type=fac["facility_type"].astype(str).to_numpy()[self.fac_units["row"]])
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

    def _budget_caps(self, prob) -> None:
        sc = self.scenario
        units = sc.region.admin_units
        site_units = self.site_units
        sites_by_unit = site_units.groupby("unit_id")["row"].apply(lambda s: set(s.to_numpy().tolist()))
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
    def _min_cost_of_standards(self, rows, required) -> float | None:
        """Least cost (a proven lower bound) of meeting ``rows`` (hard standards) with the ``required`` sites built."""
        lp = pulp.LpProblem("min_cost_standards", pulp.LpMinimize)
        seen: dict[str, pulp.LpVariable] = {}

        def var(v: pulp.LpVariable) -> pulp.LpVariable:
            if v.name not in seen:
                seen[v.name] = pulp.LpVariable(v.name, lowBound=v.lowBound, upBound=1, cat=pulp.LpInteger)
            return seen[v.name]

        for _std, need, ys in rows:
            lp += (pulp.lpSum(var(v) for v in ys) >= need)
        for v in required:
            var(v)
        lp.setObjective(pulp.LpAffineExpression([(v, self._var_cost[name]) for name, v in seen.items()]))
        rep = solve_problem(lp, SolverOptions(time_limit=60))
        if not rep.has_solution:
            return None
        return rep.bound if rep.bound is not None else rep.objective

    def budget_shortfalls(self) -> list[str]:
        """Hard standards that the budget cannot pay for, with the shortfall in yuan.

        For the total budget, each family cap and each per-unit cap, the
        cheapest way to meet the hard standards in its scope (required sites
        included, coverage ignored) is computed exactly by a small integer
        program; where it exceeds the cap, the finding names the scope, the
        cheapest cost, the cap and the shortfall, followed by the standards
        in that scope (unit, facility type, how many are missing, their cost).
        An empty list means money is not why the hard standards fail.
        """
        self.problem  # noqa: B018 - make sure standards are enumerated
        sc = self.scenario
        units = sc.region.admin_units
        names = units["name"]
        hard = [(std, need, ys) for std, need, ys in self.standard_rows if std.hard]
        if not hard:
            return []
        self._var_cost = {v.name: self.types[t].ftype.cost for t, ys in self.y.items() for v in ys}
        family_of = {v.name: self.types[t].ftype.family for t, ys in self.y.items() for v in ys}
        site_of = {v.name: int(self.types[t].sites[pos]) for t, ys in self.y.items() for pos, v in enumerate(ys)}
        required = [v for ys in self.y.values() for v in ys if (v.lowBound or 0) >= 1]
        cost_of = lambda std, need: need * sc.catalogue[std.facility_type].cost  # noqa: E731

        def describe(std, need) -> str:
            return (
                f"standard '{std.facility_type}' in {names.get(std.unit_id, std.unit_id)} ({std.unit_id}, {std.level}): "
                f"{need} missing, {cost_of(std, need):,.0f} yuan"
            )

        findings: list[str] = []

        def check(rows, req, cap: float, scope: str, cap_name: str) -> None:
            if not rows:
                return
            cheapest = self._min_cost_of_standards(rows, req)
            if cheapest is None or cheapest <= cap + 1e-6:
                return
            findings.append(
                f"meeting {scope} costs at least {cheapest:,.0f} yuan"
                + (" (with the required sites)" if req else "")
                + f"; {cap_name} is {cap:,.0f} yuan — short by {cheapest - cap:,.0f} yuan"
            )
            for std, need, _ys in sorted(rows, key=lambda r: -cost_of(r[0], r[1]))[:10]:
                findings.append(describe(std, need))
            if len(rows) > 10:
                findings.append(f"… and {len(rows) - 10} more standard(s) in this scope")

        check(hard, required, float(sc.budget.total), "every hard standard", "the budget")
        for family, amount in sc.budget.per_family.items():
            rows = [r for r in hard if sc.catalogue[r[0].facility_type].family == family]
            req = [v for v in required if family_of[v.name] == family]
            check(rows, req, float(amount), f"the hard standards of family '{family}'",
                  f"its cap budget.per_family.{family}")
        if sc.budget.per_unit:
            # Sites inside each unit (ancestors included), and the units inside each unit.
            inside = self.site_units.groupby("unit_id")["row"].apply(lambda r: set(r.tolist())).to_dict()
            for i, cap in enumerate(sc.budget.per_unit):
                for unit_id in units.index[units["level"].isin(cap.levels)].astype(str):
                    amount = cap.overrides.get(unit_id, cap.amount)
                    if amount is None:
                        continue
                    sites = inside.get(unit_id, set())
                    rows = [r for r in hard if r[2] and all(site_of[v.name] in sites for v in r[2])]
                    req = [v for v in required if site_of[v.name] in sites]
                    check(rows, req, float(amount), f"the hard standards in {names.get(unit_id, unit_id)} ({unit_id})",
                          f"its cap budget.per_unit[{i}]")
        return findings

    def diagnose(self) -> list[str]:
        """Plain-language reasons why no plan can satisfy the hard constraints."""
        self.problem  # noqa: B018 - make sure standards are enumerated
        sc = self.scenario
        names = sc.region.admin_units["name"]
        findings: list[str] = []
        hard_unmet = [(std, need, ys) for std, need, ys in self.standard_rows if std.hard]
        for std, need, ys in hard_unmet:
            if len(ys) < need:
                findings.append(
                    f"standard '{std.facility_type}' in {names.get(std.unit_id, std.unit_id)} ({std.unit_id}, "
                    f"{std.level}) needs {need} more, but only {len(ys)} candidate site(s) there may host one"
                )
        if hard_unmet and not findings:
            findings.extend(self.budget_shortfalls())
        if sc.objective.kind == "min_cost":
            for type_id, share in sc.objective.coverage_targets.items():
                td = self.types[type_id]
                reach = np.zeros(len(td.population), bool)
                reach[td.rows] = True
                reach[td.ex_rows] = True
                best = float(td.population[reach].sum())
                total = self.total_population[type_id]
                if total and best < share * total - 1e-6:
                    findings.append(
                        f"coverage target for '{type_id}' is {share:.1%}, but even building at every eligible "
                        f"site covers only {best / total:.1%}"
                    )
        if not findings:
            # No single cause found: name the constraints that are in play together.
            parts = ["the budget (budget.total)"]
            if sc.budget.per_unit:
                parts.append("the caps per unit (budget.per_unit)")
            if sc.budget.per_family:
                parts.append("the caps per family (budget.per_family)")
            if sc.sites.required:
                parts.append("the required sites (sites.required)")
            if any(std.hard for std, _need, _ys in self.standard_rows):
                parts.append("the hard standards")
            if sc.objective.kind == "min_cost" and sc.objective.coverage_targets:
                parts.append("the coverage targets (objective.coverage_targets)")
            listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
            findings.append(f"these cannot all hold together: {listed}; relax one of them")
        return findings

    def _keep_stage1_plan(self, plan: dict[str, float | None], report: SolveReport,
                          options: SolverOptions) -> SolveReport:
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
            for v, (low, up) in zip(site_vars, bounds):
                v.lowBound, v.upBound = low, up
        if not fixed.has_solution:
            return report
        return _stage1_kept(report, fixed.objective)

    def _undo_equity_stage2(self, prob: pulp.LpProblem) -> None:
        """Take out what a previous solve's equity stage 2 left in the problem (its row, its objective).

        Solving again — e.g. after adding a row to ``model.problem`` — then runs
        both stages afresh on the problem as it now is, instead of failing on a
        second ``equity_hold`` row or starting from a stale minimum rate.
        """
        cons = getattr(prob, "_constraints", None)
        (cons if isinstance(cons, dict) else prob.constraints).pop("equity_hold", None)
        if prob.objective is self.main_objective:
            prob.setObjective(pulp.LpAffineExpression([(self.t, 1.0)]))

    def check_hard_standards(self) -> None:
        """Raise :class:`InfeasibleError` if the hard standards cannot hold, before any solve.

        Two exact checks: a standard with fewer eligible sites in its unit
        than facilities missing, and hard standards the budget (total,
        family or unit caps) cannot pay for.
        """
        self.problem  # noqa: B018 - standards are enumerated while building
        source = self.scenario.source_path
        if any(s.hard and len(ys) < need for s, need, ys in self.standard_rows):
            raise InfeasibleError("no plan can meet the hard standards", diagnosis=self.diagnose(), file=source)
        shortfalls = self.budget_shortfalls()
        if shortfalls:
            raise InfeasibleError("no plan can meet the hard standards within the budget", diagnosis=shortfalls, file=source)

    # ================================================================== solve
    def solve(self, options: SolverOptions | None = None):
        """Solve and return a :class:`~optimizer.result.PlanResult`.

        Raises
        ------
        InfeasibleError
            With a diagnosis, when no plan meets the hard constraints.
        SolverError
            When the solver fails or stops without any plan.
        """
        from .result import PlanResult

        prob = self.problem
        options = options or self.scenario.solver_options
        sc = self.scenario
        self.check_hard_standards()
        if sc.objective.kind == "equity":
            self._undo_equity_stage2(prob)
        t0 = time.perf_counter()
        stages: list[SolveReport] = []
        report = solve_problem(prob, options)
        stages.append(report)
        if sc.objective.kind == "equity" and report.has_solution:
            t_star = float(self.t.varValue or 0.0)
            stage1_plan = {v.name: v.varValue for v in prob.variables()}
            prob += (self.t >= max(0.0, t_star - sc.objective.equity.tolerance), "equity_hold")
            prob.setObjective(self.main_objective)
            report2 = solve_problem(prob, options)
            if report2.status == "no_solution":
                report2 = self._keep_stage1_plan(stage1_plan, report2, options)
            stages.append(report2)
            report = _combine(report, report2)
        self.timings["solve"] = time.perf_counter() - t0
        if report.status == "infeasible":
            raise InfeasibleError("no plan satisfies the hard constraints", diagnosis=self.diagnose(), file=sc.source_path)
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
        return PlanResult.from_model(self, chosen, report, stages)


def _fmt_bytes(n: float) -> str:
    """``1.5 GiB``, ``340 MiB``, ``12 KiB``: sizes a planner can compare."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}" if n < 10 * scale else f"{n / scale:,.0f} {unit}"
    return f"{n:,.0f} bytes"


def _stage1_kept(report: SolveReport, value: float) -> SolveReport:
    return replace(report, status="feasible", objective=value, gap=relative_gap(value, report.bound),
                   message=f"{report.message}; no plan found in stage 2, the stage-1 plan is kept")


def _combine(first: SolveReport, second: SolveReport) -> SolveReport:
    """Status of a lexicographic solve: optimal only if both stages are."""
    status = "optimal" if first.is_optimal and second.is_optimal else second.status
    if status == "optimal" and not first.is_optimal:
        status = "feasible"
    extra = {"stage1": first.to_dict(), "stage2": second.to_dict()}
    return SolveReport(
        status=status,
        objective=second.objective,
        bound=second.bound,
        gap=second.gap if first.gap is None else max(second.gap or 0.0, first.gap),
        seconds=first.seconds + second.seconds,
        solver=second.solver,
        solver_version=second.solver_version,
        message=f"stage 1 (max-min rate): {first.message}; stage 2 (coverage): {second.message}",
        extra=extra,
    )


def solve_scenario(scenario: Scenario, options: SolverOptions | None = None):
    """Build and solve ``scenario``; shorthand for ``PlanningModel(scenario).solve(options)``."""
    return PlanningModel(scenario).solve(options)

