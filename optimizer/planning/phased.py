"""Plans over time: phased budgets, projected population, closures and deadlines.

:class:`PhasedPlanningModel` plans a scenario over the periods of its
``periods:`` section (years, or five-year plans) as one mixed-integer program
(PuLP; HiGHS through :func:`optimizer.planning.phased_solve.solve_phased_problem`,
CBC through :func:`optimizer.solvers.solve_problem`).

Decisions
    ``y[k, j, t] ∈ {0, 1}`` — a facility of type ``k`` at eligible site ``j``
    is open in period ``t``; ``y[k, j, t] ≥ y[k, j, t−1]`` (a facility built in
    ``t`` serves from ``t`` on; ``y[k, j, T] = 1`` for required sites), built in
    ``t``: ``y[k, j, t] − y[k, j, t−1]``, so ``open[k, j, t] = y[k, j, t]``.
    (``cumulative=False``: ``x[k, j, t]`` = built in ``t``, ``Σ_t x ≤ 1``,
    ``open = Σ_{s ≤ t} x[k, j, s]`` — the same program after a change of
    variables, with denser coverage rows.) Dominated candidate sites are
    left out (:mod:`optimizer.planning.phased_reduce`).
    For types in ``periods.closures``: ``c[e, t]`` — close existing facility
    ``e`` in ``t`` (``Σ_t c[e, t] ≤ 1``; it serves while not closed), and, with
    ``repurpose_to``, ``q[e, t] ≤ c[e, t]`` — turn it into that type at once.
Coverage
    The coverage pairs and eligible sites are those of the single-period
    model (:meth:`PlanningModel.prepare`): only (demand, site) pairs within a
    type's service standard enter, and demand points with identical covering
    sets (and equity unit) share a row. Per row and period
    ``z[r, t] ≤ Σ_{j covers r} open[k, j, t]``; with capacity, population is
    assigned per period and ``Σ_r P_{r,t} a[r, j, t] ≤ cap_j · open[k, j, t]``.
Objective
    Person-years covered, ``Σ_t Σ_k w_k Σ_r PY[r, t] z[r, t]`` with the
    scenario's type weights (``PY`` = population summed over the period's
    years), minus soft-standard shortfalls (penalty per missing facility and
    year, from the deadline on). ``objective.kind: equity`` first maximises
    the lowest coverage rate of the compared units — in every period
    (``periods.equity: per_period``) or over the horizon's person-years
    (``horizon``) — then person-years with that rate held.
Budget
    Per period, ``build + repurpose − closure value ≤ budget_t``; with
    ``carry_over`` the cumulative form ``Σ_{s ≤ t} spend_s ≤ Σ_{s ≤ t} budget_s``.
    ``budget.total``, ``budget.per_family`` and ``budget.per_unit`` cap the
    spending of the whole horizon.
Standards
    ``existing − closed + repurposed-in + Σ_{j in unit} open[k, j, t] (+ shortfall_t) ≥ required``
    for every period ``t`` from the standard's deadline (``standards_deadlines``
    per level, else ``standards_deadline``, else the last period).

The static comparison (``periods.compare_static``) is the scenario's own
single-period plan on the demand layer's (base-year) population with the
budget of the whole horizon (``budget.total`` set to the sum of the period
budgets), whose sites are then phased in by this model restricted to them
(same periods, budgets and population, no closures): the best schedule of the
static plan's sites, compared period by period with the phased plan.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pulp

from ..config.reader import config_line
from ..config.schema import PeriodsConfig
from ..errors import ConfigError, InfeasibleError, RegionoptError, SolverError
from ..impedance.rows import merge_rows
from ..render.timeline import REGION_ROW
from ..results.phased import PhasedResult, _period_person_years, _val, _weighted_rate
from ..results.plan import PlanResult
from ..scenario import Scenario, default_unit_levels
from ..solvers.options import SolveReport, SolverOptions
from .model import PlanningModel
from .phased_budget import add_budget_rows
from .phased_decisions import site_decisions
from .phased_reduce import dominated_sites
from .phased_solve import solve_phased_problem
from .population import period_population, read_projection


@dataclass
class _Column:
    """A place that may serve type ``k`` in some periods: a candidate site, an existing or a repurposed facility."""

    kind: str  # "new" | "existing" | "repurposed"
    index: int  # candidate-site row (new) or facility row (existing, repurposed)
    capacity: float | None


# Per (compared unit, period): covered people (weighted) and population (weighted), for equity.
_UnitTerms = dict[tuple[int, int], pulp.LpAffineExpression]
_UnitDenominators = dict[tuple[int, int], float]


@dataclass
class _TypeRows:
    """The merged coverage rows of one type, for evaluation after the solve."""

    covered0: np.ndarray  # demand points always covered (fixed existing facilities, uncapacitated)
    member_row: np.ndarray  # merged row of each demand point (-1: none)
    pairs_rows: np.ndarray  # demand index of each (demand, column) pair
    pairs_cols: np.ndarray  # column index of each pair
    served: list  # capacitated: per merged row and period, the list of assignment variables


class PhasedPlanningModel:
    """A scenario planned over periods (see the module docstring for the model).

    Parameters
    ----------
    scenario
        A validated scenario.
    periods
        The periods; default ``scenario.config.periods`` (the scenario file's ``periods:`` section).
    population
        Person-years ``{group: array (demand points × periods)}``; default from
        ``periods.population`` (:func:`optimizer.population.period_population`).
    only_sites
        Restrict building to these ``(candidate row, type)`` pairs (used for the static comparison).
    cumulative
        Decide "open by period t" per site (``y[k, j, t] ≥ y[k, j, t−1]``, built in
        ``t`` = ``y[k, j, t] − y[k, j, t−1]``), the default; ``False`` decides "built in
        period t" (``x``). Both have the same optimum (and LP relaxation: one is a
        unimodular change of variables of the other); the cumulative rows are
        sparser (a period-``t`` coverage row has one term per site in reach, not
        ``t + 1``) and branching fixes a site open for every later period.
    reduce
        Drop candidate sites that another site of the same type dominates (see
        :func:`optimizer.planning.phased_reduce.dominated_sites`); the optimum is kept.

    Examples
    --------
    >>> result = PhasedPlanningModel(load_scenario("configs/zhejiang-2035.yaml")).solve()  # doctest: +SKIP
    >>> result.schedule.head()                                                          # doctest: +SKIP
    >>> result.write("reports/zhejiang-2035")                                           # doctest: +SKIP
    """

    def __init__(
        self,
        scenario: Scenario,
        periods: PeriodsConfig | None = None,
        population: dict[str, np.ndarray] | None = None,
        only_sites: set[tuple[int, str]] | None = None,
        *,
        cumulative: bool = True,
        reduce: bool = True,
    ) -> None:
        if periods is None:
            periods = getattr(scenario.config, "periods", None) if scenario.config is not None else None
        if periods is None:
            raise ConfigError(
                "the scenario has no periods: section",
                file=scenario.source_path,
                field="periods",
                hint="add periods.phases (see docs/scenario.md, 'Phased plans')",
            )
        self.scenario = scenario
        self.periods = periods
        self.phases = list(periods.phases)
        self.population = population
        self.only_sites = only_sites
        self.cumulative = cumulative
        self.reduce = reduce
        self.base = PlanningModel(scenario)
        self.timings: dict[str, float] = {}
        self.projection_sources: list[str] = []
        self._problem: pulp.LpProblem | None = None
        self._check_periods()

    # ================================================================== checks
    def _line(self, *loc: object) -> int | None:
        return config_line(self.scenario.config, "periods", *loc) if self.scenario.config is not None else None

    def _check_periods(self) -> None:
        sc = self.scenario
        src = sc.source_path
        if sc.objective.kind not in ("coverage", "equity"):
            raise ConfigError(
                f"a phased plan supports objective.kind coverage or equity, not {sc.objective.kind!r}",
                file=src,
                row=config_line(sc.config, "objective", "kind") if sc.config is not None else None,
                field="objective.kind",
                hint="use kind: coverage or kind: equity with periods:",
            )
        for t in range(1, len(self.phases)):
            prev, cur = self.phases[t - 1], self.phases[t]
            if cur.start < prev.start + prev.years:
                raise ConfigError(
                    f"period {cur.label!r} starts in {cur.start}, before period {prev.label!r} ends "
                    f"({prev.start + prev.years - 1})",
                    file=src,
                    row=self._line("phases", t, "start"),
                    field=f"periods.phases[{t}].start",
                    hint="list the periods in time order without overlaps",
                )
        labels = [p.label for p in self.phases]
        if len(set(labels)) != len(labels):
            dup = next(lbl for lbl in labels if labels.count(lbl) > 1)
            raise ConfigError(
                f"period label {dup!r} is used twice",
                file=src,
                field="periods.phases",
                row=self._line("phases"),
                hint="give every period its own label",
            )
        deadlines = {"standards_deadline": self.periods.standards_deadline}
        deadlines.update({f"standards_deadlines.{k}": v for k, v in self.periods.standards_deadlines.items()})
        for key, label in deadlines.items():
            if label is not None and label not in labels:
                raise ConfigError(
                    f"deadline {label!r} is not the label of a period",
                    file=src,
                    row=self._line(*key.split(".")),
                    field=f"periods.{key}",
                    hint=f"periods: {labels}",
                )
        levels = set(sc.region.admin_units["level"].astype(str))
        for level in self.periods.standards_deadlines:
            if level not in levels:
                raise ConfigError(
                    f"deadline for admin level {level!r}, which the region does not have",
                    file=src,
                    row=self._line("standards_deadlines", level),
                    field=f"periods.standards_deadlines.{level}",
                    hint=f"levels in the admin units: {sorted(levels)}",
                )
        for type_id, rule in self.periods.closures.items():
            for key, value in (("", type_id), ("repurpose_to", rule.repurpose_to)):
                if value is not None and value not in sc.catalogue:
                    field_name = f"periods.closures.{type_id}" + (f".{key}" if key else "")
                    raise ConfigError(
                        f"facility type {value!r} is not in the catalogue",
                        file=src,
                        row=self._line("closures", type_id, *([key] if key else [])),
                        field=field_name,
                        hint=f"known types: {', '.join(sc.catalogue)}",
                    )

    # ================================================================== preparation
    def prepare(self) -> PhasedPlanningModel:
        """Coverage pairs (from the single-period model) and person-years per period."""
        t0 = time.perf_counter()
        base = self.base.prepare()
        sc = self.scenario
        groups = sorted({td.ftype.serves for td in base.types.values()})
        if self.population is None:
            projection, source = None, None
            if self.periods.population is not None:
                source = Path(self.periods.population)
                if not source.is_absolute() and sc.source_path is not None:
                    source = (Path(sc.source_path).parent / source).resolve()
                projection = read_projection(source)
                if "source" in projection.columns:
                    self.projection_sources = sorted(set(projection["source"].dropna().astype(str)))
            self.population = period_population(sc.region, groups, self.phases, projection, source)
        self.years = np.array([p.years for p in self.phases], dtype=float)
        fac = sc.region.facilities
        self.fac_types = fac["facility_type"].astype(str).to_numpy()
        self.fac_ids = fac.index.astype(str).to_numpy()
        self.fac_caps = fac["capacity"].to_numpy(dtype=float) if "capacity" in fac else np.full(len(fac), np.nan)
        # Existing facilities that may be closed, and which type each may become.
        self.closable = np.flatnonzero(np.isin(self.fac_types, list(self.periods.closures)))
        self.repurpose_into = {
            int(e): self.periods.closures[self.fac_types[e]].repurpose_to
            for e in self.closable
            if self.periods.closures[self.fac_types[e]].repurpose_to is not None
        }
        self.dropped = dominated_sites(self) if self.reduce else {}
        self.timings["prepare"] = time.perf_counter() - t0
        return self

    def _columns(self, type_id: str) -> tuple[list[_Column], np.ndarray, np.ndarray, np.ndarray]:
        """Columns of a type and its (demand, column) pairs; also the demand points always covered."""
        base = self.base
        td = base.types[type_id]
        ftype = td.ftype
        capacitated = ftype.capacity is not None
        closable = type_id in self.periods.closures
        cols = [_Column("new", int(j), ftype.capacity) for j in td.sites]
        rows_parts, cols_parts = [td.rows], [td.cols]
        covered0 = np.zeros(len(td.population), bool)
        if capacitated or closable:
            offset = len(cols)
            for e in td.existing:
                cap = self.fac_caps[e] if np.isfinite(self.fac_caps[e]) else ftype.capacity
                cols.append(_Column("existing", int(e), None if not capacitated or cap is None else float(cap)))
            rows_parts.append(td.ex_rows)
            cols_parts.append(td.ex_cols + offset)
        else:
            covered0[td.ex_rows] = True
        into = [e for e, k in self.repurpose_into.items() if k == type_id]
        if into:
            offset = len(cols)
            # reached by the type's impedance, as its candidate sites and existing facilities are
            impedance = base.impedance[type_id]
            into_points = base.fac_points.subset(np.asarray(into, dtype=np.int64))
            r_rows, r_cols, _, _ = impedance.reach(
                ftype.urban, ftype.rural, base.urban, base.demand_points, into_points
            )
            cols.extend(_Column("repurposed", int(e), ftype.capacity) for e in into)
            rows_parts.append(r_rows)
            cols_parts.append(r_cols + offset)
        rows = np.concatenate(rows_parts).astype(np.int64)
        colidx = np.concatenate(cols_parts).astype(np.int64)
        return cols, rows, colidx, covered0

    # ================================================================== build
    @property
    def problem(self) -> pulp.LpProblem:
        """The PuLP problem (built on first access)."""
        if self._problem is None:
            self.build()
        return self._problem

    def build(self) -> pulp.LpProblem:
        """Build the multi-period program."""
        if not hasattr(self, "years"):
            self.prepare()
        t0 = time.perf_counter()
        sc = self.scenario
        prob = pulp.LpProblem(f"regionopt_phased_{sc.name}".replace("-", "_").replace(".", "_"), pulp.LpMaximize)
        self._add_decisions(prob)
        unit_cov, unit_den = self._add_coverage(prob)
        penalty = self._standards(prob, self._open_expr)
        gross = self._budget(prob)
        self._set_objective(prob, penalty, gross, unit_cov, unit_den)
        self._problem = prob
        self.timings["build"] = time.perf_counter() - t0
        return prob

    # ---- decisions
    def _add_decisions(self, prob: pulp.LpProblem) -> None:
        """Build (per site, type and period), close and repurpose variables, each at most once over the horizon."""
        T = len(self.phases)
        # Per type and eligible site, one variable per period: "open by t" (cumulative) or "built in t".
        self.x: dict[str, list[list[pulp.LpVariable]]] = site_decisions(self, prob)
        self.close: dict[int, list[pulp.LpVariable]] = {}
        self.repurpose: dict[int, list[pulp.LpVariable]] = {}
        for e in self.closable.tolist():
            cs = [pulp.LpVariable(f"close_{e}_{t}", 0, 1, cat=pulp.LpInteger) for t in range(T)]
            if T > 1:
                prob += (pulp.lpSum(cs) <= 1, f"close_once_{e}")
            self.close[e] = cs
            if e in self.repurpose_into:
                qs = [pulp.LpVariable(f"repurpose_{e}_{t}", 0, 1, cat=pulp.LpInteger) for t in range(T)]
                for t in range(T):
                    prob += (qs[t] - cs[t] <= 0, f"repurpose_closed_{e}_{t}")
                self.repurpose[e] = qs

    @staticmethod
    def _cumulative(vs: list[pulp.LpVariable], t: int) -> pulp.LpAffineExpression:
        """How many of ``vs`` happened by period ``t`` (0 or 1: each happens at most once)."""
        return pulp.LpAffineExpression([(v, 1.0) for v in vs[: t + 1]])

    def built_terms(self, type_id: str, pos: int, t: int) -> list[tuple[pulp.LpVariable, float]]:
        """Terms of "site ``pos`` of the type is built in period ``t``" (0 or 1)."""
        xs = self.x[type_id][pos]
        if not self.cumulative:
            return [(xs[t], 1.0)]
        return [(xs[t], 1.0)] + ([(xs[t - 1], -1.0)] if t > 0 else [])

    def _open_expr(self, type_id: str, col: _Column, pos: int, t: int) -> pulp.LpAffineExpression:
        """1 when column ``col`` (at ``pos`` among the type's columns) is open in period ``t``."""
        if col.kind == "new":
            if self.cumulative:
                return pulp.LpAffineExpression([(self.x[type_id][pos][t], 1.0)])
            return self._cumulative(self.x[type_id][pos], t)
        if col.kind == "repurposed":
            return self._cumulative(self.repurpose[col.index], t)
        if col.index in self.close:
            return 1 - self._cumulative(self.close[col.index], t)
        return pulp.LpAffineExpression() + 1

    # ---- coverage per type and period
    def _add_coverage(self, prob: pulp.LpProblem) -> tuple[_UnitTerms, _UnitDenominators]:
        """Coverage rows of every type and period; for equity, covered people and population per compared unit."""
        sc = self.scenario
        base = self.base
        # Equity: each demand point's set of compared units (nested units: several) as a signature id;
        # rows are merged only within one signature, and a row counts for every unit of its signature.
        keys: np.ndarray | None = None
        units_of: list[np.ndarray] = []
        labels: list[str] = []
        if sc.objective.kind == "equity":
            keys, units_of, _, _, labels = base._compare_signatures()
        self.compare_labels = labels
        unit_cov: _UnitTerms = {}
        unit_den: _UnitDenominators = {}
        self.coverage_expr: dict[tuple[str, int], pulp.LpAffineExpression] = {}
        self.type_rows: dict[str, _TypeRows] = {}
        self.columns: dict[str, list[_Column]] = {}
        for ki, type_id in enumerate(base.types):
            self._add_type_coverage(prob, ki, type_id, keys, units_of, unit_cov, unit_den)
        return unit_cov, unit_den

    def _add_type_coverage(
        self,
        prob: pulp.LpProblem,
        ki: int,
        type_id: str,
        keys: np.ndarray | None,
        units_of: list[np.ndarray],
        unit_cov: _UnitTerms,
        unit_den: _UnitDenominators,
    ) -> None:
        """Coverage of type ``type_id`` (the ``ki``-th): its always-covered people, then one row per merged row."""
        T = len(self.phases)
        ftype = self.base.types[type_id].ftype
        w = self.scenario.weight(type_id)
        assert self.population is not None  # prepare() has run
        PY = self.population[ftype.serves]
        cols, rows, colidx, covered0 = self._columns(type_id)
        self.columns[type_id] = cols
        n = len(PY)
        for t in range(T):
            self.coverage_expr[(type_id, t)] = pulp.LpAffineExpression() + float(PY[covered0, t].sum())
        if keys is not None:
            for key in np.unique(keys[keys >= 0]).tolist():
                mask = keys == key
                for unit in units_of[key].tolist():
                    for t in range(T):
                        e = unit_cov.setdefault((unit, t), pulp.LpAffineExpression())
                        e.addInPlace(w * float(PY[mask & covered0, t].sum()))
                        unit_den[(unit, t)] = unit_den.get((unit, t), 0.0) + w * float(PY[mask, t].sum())
        keep = (PY[rows].sum(axis=1) > 0) & ~covered0[rows]
        dropped = self.dropped.get(type_id, set())
        if dropped:  # dominated sites are never built: their pairs would only keep rows apart
            gone = np.array([col.kind == "new" and col.index in dropped for col in cols], dtype=bool)
            keep &= ~gone[colidx]
        rows, colidx = rows[keep], colidx[keep]
        member_row = np.full(n, -1, dtype=np.int64)
        served: list[list[list[tuple[pulp.LpVariable, int | None]]]] = []
        self.type_rows[type_id] = _TypeRows(covered0, member_row, rows, colidx, served)
        if not len(rows):
            return
        order = np.lexsort((colidx, rows))
        rows, colidx = rows[order], colidx[order]
        demand_with_pairs, counts = np.unique(rows, return_counts=True)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        member_keys = keys[demand_with_pairs] if keys is not None else None
        gid, first = merge_rows(indptr, colidx, len(cols), keys=member_keys, seed=ki + 1)
        member_row[demand_with_pairs] = gid
        n_rows = len(first)
        weights = np.zeros((n_rows, T))
        np.add.at(weights, gid, PY[demand_with_pairs])
        row_key = keys[demand_with_pairs][first] if keys is not None else None
        load: dict[tuple[int, int], list[tuple[pulp.LpVariable, float]]] = {}
        for r in range(n_rows):
            members = colidx[indptr[first[r]] : indptr[first[r] + 1]].tolist()
            served_r: list[list[tuple[pulp.LpVariable, int | None]]] = []
            for t in range(T):
                wt = float(weights[r, t])
                if wt <= 0:
                    served_r.append([])
                    continue
                terms, assigned = self._row_coverage(prob, ki, type_id, cols, members, r, t, wt, load)
                served_r.append(assigned)
                self.coverage_expr[(type_id, t)].addInPlace(pulp.LpAffineExpression(terms))
                if row_key is not None and row_key[r] >= 0:
                    for unit in units_of[int(row_key[r])].tolist():
                        unit_cov.setdefault((unit, t), pulp.LpAffineExpression()).addInPlace(
                            pulp.LpAffineExpression([(v, c * w) for v, c in terms])
                        )
            served.append(served_r)
        for (c, t), load_terms in load.items():
            capacity = cols[c].capacity
            assert capacity is not None  # only capacitated columns carry load
            e = pulp.LpAffineExpression(load_terms)
            e.addInPlace(-float(capacity) * self._open_expr(type_id, cols[c], c, t))
            prob += (e <= 0, f"cap_{ki}_{c}_{t}")

    def _row_coverage(
        self,
        prob: pulp.LpProblem,
        ki: int,
        type_id: str,
        cols: list[_Column],
        members: list[int],
        r: int,
        t: int,
        wt: float,
        load: dict[tuple[int, int], list[tuple[pulp.LpVariable, float]]],
    ) -> tuple[list[tuple[pulp.LpVariable, float]], list[tuple[pulp.LpVariable, int | None]]]:
        """Merged row ``r`` (person-years ``wt``) in period ``t``: its coverage terms and its served variables.

        Without capacity, one variable z ≤ the open columns in reach; with
        capacity, an assignment share per column in reach (summing to at
        most 1), whose people load the column (added to ``load``).
        """
        if self.base.types[type_id].ftype.capacity is None:
            z = pulp.LpVariable(f"z_{ki}_{r}_{t}", 0, 1)
            cover = pulp.LpAffineExpression()
            for c in members:
                cover.addInPlace(self._open_expr(type_id, cols[c], c, t))
            prob += (cover - z >= 0, f"cov_{ki}_{r}_{t}")
            return [(z, wt)], [(z, None)]
        xs: list[tuple[pulp.LpVariable, int | None]] = []
        for c in members:
            a = pulp.LpVariable(f"a_{ki}_{r}_{c}_{t}", 0, 1)
            xs.append((a, c))
            load.setdefault((c, t), []).append((a, wt / self.years[t]))
        prob += (pulp.LpAffineExpression([(a, 1.0) for a, _ in xs]) <= 1, f"assign_{ki}_{r}_{t}")
        return [(a, wt) for a, _ in xs], xs

    # ---- objective
    def _set_objective(
        self,
        prob: pulp.LpProblem,
        penalty: pulp.LpAffineExpression,
        gross: pulp.LpAffineExpression,
        unit_cov: _UnitTerms,
        unit_den: _UnitDenominators,
    ) -> None:
        """Person-years covered (less penalties and tie-breaks), or for equity the lowest unit rate first."""
        sc = self.scenario
        T = len(self.phases)
        covered = pulp.LpAffineExpression()
        for (type_id, _t), expr in self.coverage_expr.items():
            covered.addInPlace(expr * sc.weight(type_id))
        max_cost = max((td.ftype.cost for td in self.base.types.values()), default=0.0) or 1.0
        # Tie-breaks far below one person-year: do not spend on facilities that
        # add nothing, and do not close facilities for nothing.
        closures = pulp.lpSum(v for cs in self.close.values() for v in cs)
        self.main_objective = covered - penalty - (1e-3 / max_cost) * gross - 1e-3 * closures
        self.covered_expr = covered
        if sc.objective.kind == "equity":
            self.t = pulp.LpVariable("min_rate", 0, 1)
            if self.periods.equity == "per_period":
                for (key, t), e in unit_cov.items():
                    d = unit_den.get((key, t), 0.0)
                    if d > 0:
                        prob += (e - d * self.t >= 0, f"equity_{key}_{t}")
            else:
                for key in sorted({k for k, _ in unit_cov}):
                    e = pulp.lpSum(unit_cov[(key, t)] for t in range(T) if (key, t) in unit_cov)
                    d = sum(unit_den.get((key, t), 0.0) for t in range(T))
                    if d > 0:
                        prob += (e - d * self.t >= 0, f"equity_{key}")
            prob.setObjective(pulp.LpAffineExpression([(self.t, 1.0)]))
        else:
            prob.setObjective(self.main_objective)

    def _deadline(self, level: str) -> int:
        label = self.periods.standards_deadlines.get(level, self.periods.standards_deadline)
        labels = [p.label for p in self.phases]
        return labels.index(label) if label is not None else len(labels) - 1

    def _standards(
        self, prob: pulp.LpProblem, open_expr: Callable[[str, _Column, int, int], pulp.LpAffineExpression]
    ) -> pulp.LpAffineExpression:
        """Standard rows from each deadline on; returns the penalty of soft shortfalls (per year)."""
        sc = self.scenario
        base = self.base
        T = len(self.phases)
        sites_by_unit = base.site_units.groupby("unit_id")["row"].apply(lambda s: set(s.tolist())).to_dict()
        fac_by_unit = base.fac_units.groupby("unit_id")["row"].apply(lambda s: set(s.tolist())).to_dict()
        penalty = pulp.LpAffineExpression()
        self.shortfall: dict[tuple[int, int], pulp.LpVariable] = {}
        self.standard_rows: list = []
        for s_idx, std in enumerate(sc.standard_list()):
            k = std.facility_type
            td = base.types[k]
            in_unit = sites_by_unit.get(std.unit_id, set())
            facs = fac_by_unit.get(std.unit_id, set())
            have = int(sum(1 for e in facs if self.fac_types[e] == k))
            new_pos = [p for p, j in enumerate(td.sites.tolist()) if j in in_unit]
            closed = [e for e in facs if self.fac_types[e] == k and e in self.close]
            into = [e for e in facs if self.repurpose_into.get(e) == k]
            need = std.count - have
            if need <= 0 and not closed:
                continue
            cols = self.columns[k]
            rep_pos = {col.index: c for c, col in enumerate(cols) if col.kind == "repurposed"}
            self.standard_rows.append((std, need, len(new_pos) + len(into)))
            if not std.hard and not (new_pos or into or closed):
                continue  # nothing the plan can do about it (reported like the single-period model)
            for t in range(self._deadline(std.level), T):
                expr = pulp.LpAffineExpression()
                for p in new_pos:
                    expr.addInPlace(open_expr(k, cols[p], p, t))
                for e in into:
                    expr.addInPlace(open_expr(k, cols[rep_pos[e]], rep_pos[e], t))
                for e in closed:
                    expr.addInPlace(-1 * pulp.lpSum(self.close[e][: t + 1]))
                if not std.hard:
                    s = pulp.LpVariable(f"short_{s_idx}_{t}", 0, std.count)
                    self.shortfall[(s_idx, t)] = s
                    expr.addterm(s, 1.0)
                    penalty.addterm(s, std.penalty * float(self.years[t]))
                prob += (expr >= need, f"std_{s_idx}_{t}")
        return penalty

    def _budget(self, prob: pulp.LpProblem) -> pulp.LpAffineExpression:
        """Budget rows per period (with or without carry-over) and horizon caps; returns gross spending."""
        gross, self.spend = add_budget_rows(self, prob)
        return gross

    # ================================================================== solve
    def check_hard_standards(self) -> None:
        """Raise :class:`InfeasibleError` when a hard standard has fewer sites in its unit than facilities missing."""
        self.problem  # noqa: B018 - standards are enumerated while building
        names = self.scenario.region.admin_units["name"]
        findings = [
            f"standard '{std.facility_type}' in {names.get(std.unit_id, std.unit_id)} ({std.unit_id}, {std.level}) "
            f"needs {need} more, but only {places} candidate site(s) there may host one"
            for std, need, places in self.standard_rows
            if std.hard and places < need
        ]
        if findings:
            raise InfeasibleError(
                "no plan can meet the hard standards",
                diagnosis=findings,
                file=self.scenario.source_path,
                hint="add candidate sites in these units, allow the type at more site kinds "
                "(facility_types.<type>.sites), or make the standards soft (standards.mode: soft)",
            )

    def _solve_problem(self, options: SolverOptions) -> tuple[SolveReport, list[SolveReport]]:
        prob = self.problem
        sc = self.scenario
        report = solve_phased_problem(prob, options)
        stages = [report]
        if sc.objective.kind == "equity" and report.has_solution:
            t_star = float(self.t.varValue or 0.0)
            self.min_rate = t_star  # stage 1: the best lowest coverage rate
            prob += (self.t >= max(0.0, t_star - sc.objective.equity.tolerance), "equity_hold")
            prob.setObjective(self.main_objective)
            second = solve_phased_problem(prob, options)
            stages.append(second)
            status = (
                "optimal"
                if report.is_optimal and second.is_optimal
                else ("feasible" if second.has_solution else second.status)
            )
            report = SolveReport(
                status=status,
                objective=second.objective,
                bound=second.bound,
                gap=None if second.gap is None else max(second.gap, report.gap or 0.0),
                seconds=report.seconds + second.seconds,
                solver=second.solver,
                solver_version=second.solver_version,
                message=f"stage 1 (max-min rate): {report.message}; stage 2 (person-years): {second.message}",
            )
        return report, stages

    def solve(self, options: SolverOptions | None = None, *, compare_static: bool | None = None) -> PhasedResult:
        """Solve; return a :class:`PhasedResult` (with the static comparison unless disabled).

        Raises
        ------
        InfeasibleError
            When no schedule meets the hard constraints.
        SolverError
            When the solver fails or stops without any plan.
        """
        options = options or self.scenario.solver_options
        sc = self.scenario
        self.check_hard_standards()
        t0 = time.perf_counter()
        report, stages = self._solve_problem(options)
        self.timings["solve"] = time.perf_counter() - t0
        if report.status == "infeasible":
            raise InfeasibleError(
                "no plan satisfies the hard constraints",
                file=sc.source_path,
                diagnosis=[
                    (
                        "the hard standards by their deadlines, the budgets per period and the caps cannot all hold "
                        "together; relax one of them"
                    )
                ],
                hint="raise the periods' budgets (periods.phases[].budget), set periods.carry_over: true, relax "
                "the caps, or give the standards a later deadline (periods.standards_deadline) or make them soft",
            )
        if not report.has_solution:
            limit = f" within the time limit of {options.time_limit:g} s" if options.time_limit else ""
            raise SolverError(
                f"{options.name} found no plan{limit} ({report.status}: {report.message}); nothing was written",
                file=sc.source_path,
                field="solver.time_limit",
                hint="raise solver.time_limit, or make the problem smaller or easier (fewer sites, softer standards)",
            )
        result = self._result(report, stages)
        if compare_static is None:
            compare_static = self.periods.compare_static and self.only_sites is None
        if compare_static:
            t1 = time.perf_counter()
            result.static = static_comparison(self, result, options)
            self.timings["static"] = time.perf_counter() - t1
        result.timings = dict(self.timings)
        return result

    # ================================================================== results
    def _open_at(self, type_id: str, t: int) -> np.ndarray:
        """Which columns of a type serve in period ``t`` (from the solved decisions)."""
        out = []
        for pos, col in enumerate(self.columns[type_id]):
            if col.kind == "new":
                out.append(sum(_val(v) * c for s in range(t + 1) for v, c in self.built_terms(type_id, pos, s)) > 0.5)
            elif col.kind == "repurposed":
                out.append(sum(_val(v) for v in self.repurpose[col.index][: t + 1]) > 0.5)
            elif col.index in self.close:
                out.append(sum(_val(v) for v in self.close[col.index][: t + 1]) < 0.5)
            else:
                out.append(True)
        return np.array(out, dtype=bool)

    def covered_person_years(self) -> dict[str, np.ndarray]:
        """Covered person-years per type, demand point and period, from the solved decisions.

        Without capacity a point is covered when an open column is in reach
        (or a fixed existing facility); with capacity, the assigned share of
        its merged row.
        """
        out = {}
        T = len(self.phases)
        assert self.population is not None  # prepare() has run
        for type_id, td in self.base.types.items():
            PY = self.population[td.ftype.serves]
            rows = self.type_rows[type_id]
            cov = np.zeros_like(PY)
            cov[rows.covered0] = PY[rows.covered0]
            if td.ftype.capacity is None:
                for t in range(T):
                    is_open = self._open_at(type_id, t)
                    hit = np.zeros(len(PY), bool)
                    if len(rows.pairs_rows):
                        hit[rows.pairs_rows[is_open[rows.pairs_cols]]] = True
                    cov[hit, t] = PY[hit, t]
            else:
                share = np.zeros((len(rows.served), T))
                for r, per_t in enumerate(rows.served):
                    for t, xs in enumerate(per_t):
                        share[r, t] = min(1.0, sum(_val(a) for a, _c in xs))
                member = rows.member_row
                has = member >= 0
                cov[has] = PY[has] * share[member[has]]
            out[type_id] = cov
        return out

    def _result(self, report: SolveReport, stages: list[SolveReport]) -> PhasedResult:
        sc = self.scenario
        region = sc.region
        labels = [p.label for p in self.phases]
        cand = region.candidates
        fac = region.facilities
        recs = []
        for type_id, per_site in self.x.items():
            td = self.base.types[type_id]
            for pos, xs in enumerate(per_site):
                for t in range(len(xs)):
                    if sum(_val(v) * c for v, c in self.built_terms(type_id, pos, t)) > 0.5:
                        j = int(td.sites[pos])
                        recs.append(
                            {
                                "period": labels[t],
                                "start_year": self.phases[t].start,
                                "action": "build",
                                "site_id": str(cand.index[j]),
                                "facility_type": type_id,
                                "unit_id": str(cand["unit_id"].iloc[j]),
                                "name": str(cand["name"].iloc[j]) if "name" in cand else "",
                                "cost": float(td.ftype.cost),
                                "lon": float(cand.geometry.iloc[j].x),
                                "lat": float(cand.geometry.iloc[j].y),
                            }
                        )
        for e, cs in self.close.items():
            for t, v in enumerate(cs):
                if _val(v) > 0.5:
                    rule = self.periods.closures[self.fac_types[e]]
                    rep = e in self.repurpose and _val(self.repurpose[e][t]) > 0.5
                    base_rec = {
                        "period": labels[t],
                        "start_year": self.phases[t].start,
                        "site_id": str(self.fac_ids[e]),
                        "unit_id": str(fac["unit_id"].iloc[e]) if "unit_id" in fac else "",
                        "name": str(fac["name"].iloc[e]) if "name" in fac else "",
                        "lon": float(fac.geometry.iloc[e].x),
                        "lat": float(fac.geometry.iloc[e].y),
                    }
                    recs.append(
                        dict(base_rec, action="close", facility_type=self.fac_types[e], cost=-float(rule.value))
                    )
                    if rep:
                        recs.append(
                            dict(
                                base_rec,
                                action="repurpose",
                                facility_type=str(rule.repurpose_to),
                                cost=float(rule.repurpose_cost),
                            )
                        )
        cols = ["period", "start_year", "action", "site_id", "facility_type", "unit_id", "name", "cost", "lon", "lat"]
        schedule = pd.DataFrame(recs, columns=cols)
        if len(schedule):
            order = {lbl: i for i, lbl in enumerate(labels)}
            schedule = schedule.sort_values(
                ["period", "action", "facility_type", "site_id"],
                key=lambda s: s.map(order) if s.name == "period" else s,
            ).reset_index(drop=True)
        covered = self.covered_person_years()
        coverage = self._coverage_table(covered)
        spend = [float(pulp.value(e) or 0.0) for e in self.spend]
        budgets = [p.budget for p in self.phases]
        carried, rows = 0.0, []
        for t, p in enumerate(self.phases):
            available = p.budget + (carried if self.periods.carry_over else 0.0)
            carried = available - spend[t] if self.periods.carry_over else 0.0
            sub = coverage[(coverage["period"] == p.label) & (coverage["unit_id"] == REGION_ROW)]
            rows.append(
                {
                    "period": p.label,
                    "start_year": p.start,
                    "years": p.years,
                    "budget": float(budgets[t]),
                    "available": available,
                    "spent": spend[t],
                    "carried_over": carried,
                    "weighted_rate": _weighted_rate(sub, sc),
                }
            )
        periods = pd.DataFrame(rows)
        standards = []
        for (s_idx, t), s in self.shortfall.items():
            if _val(s) > 1e-6:
                std = sc.standard_list()[s_idx]
                standards.append(
                    {
                        "period": labels[t],
                        "unit_id": std.unit_id,
                        "level": std.level,
                        "facility_type": std.facility_type,
                        "missing": round(_val(s), 6),
                    }
                )
        return PhasedResult(
            scenario=sc,
            periods_config=self.periods,
            report=report,
            stages=stages,
            schedule=schedule,
            coverage_by_period=coverage,
            periods=periods,
            unmet_standards=pd.DataFrame(standards, columns=["period", "unit_id", "level", "facility_type", "missing"]),
            person_years=float(sum(sc.weight(k) * v.sum() for k, v in covered.items())),
            projection_sources=self.projection_sources,
        )

    def _coverage_table(self, covered: dict[str, np.ndarray]) -> pd.DataFrame:
        """Coverage by compared unit (and the whole region), type and period."""
        sc = self.scenario
        region = sc.region
        units = region.admin_units
        eq = sc.objective.equity
        levels = eq.levels or default_unit_levels(sc)
        compared = units[units["level"].isin(levels)]
        membership = region.unit_membership(region.demand["unit_id"].astype(str))
        hit = membership[membership["unit_id"].isin(set(compared.index.astype(str)))]
        recs = []
        assert self.population is not None  # prepare() has run
        for type_id, cov in covered.items():
            PY = self.population[sc.catalogue[type_id].serves]
            for t, p in enumerate(self.phases):
                frame = pd.DataFrame(
                    {
                        "unit_id": hit["unit_id"].to_numpy(),
                        "py": PY[hit["row"].to_numpy(), t],
                        "cov": cov[hit["row"].to_numpy(), t],
                    }
                )
                sums = frame.groupby("unit_id")[["py", "cov"]].sum()
                sums.loc[REGION_ROW] = [PY[:, t].sum(), cov[:, t].sum()]
                for unit_id, (py, cv) in sums.iterrows():
                    recs.append(
                        {
                            "period": p.label,
                            "start_year": p.start,
                            "unit_id": str(unit_id),
                            "name": str(units["name"].get(unit_id, "")) if unit_id != REGION_ROW else "",
                            "facility_type": type_id,
                            "population": py / p.years,
                            "covered": cv / p.years,
                            "rate": (cv / py) if py > 0 else float("nan"),
                            "person_years": py,
                            "person_years_covered": cv,
                        }
                    )
        return pd.DataFrame(recs)


def end_of_horizon_plan(model: PhasedPlanningModel, result: PhasedResult) -> PlanResult:
    """The plan at the end of the horizon (every build) as a :class:`~optimizer.result.PlanResult`.

    Evaluated by the single-period evaluation on the demand layer's population
    with all existing facilities (closures and repurposing are in
    ``schedule.csv`` only); it carries the phased solve's status and gap. This
    is what the usual maps and report of a phased run show.
    """

    rows = {sid: j for j, sid in enumerate(model.scenario.region.candidates.index.astype(str))}
    builds = result.schedule[result.schedule["action"] == "build"] if len(result.schedule) else result.schedule
    chosen = [
        (rows[str(s)], str(k)) for s, k in zip(builds.get("site_id", []), builds.get("facility_type", []), strict=False)
    ]
    return PlanResult.from_model(model.base, chosen, result.report, result.stages)


def static_comparison(model: PhasedPlanningModel, result: PhasedResult, options: SolverOptions) -> dict:
    """The scenario's single-period plan (whole horizon budget, base-year population), phased in at best.

    Returns a dict with the static plan's status, sites, and ``table``: weighted
    person-years covered per period by the phased plan and by the static plan's sites.
    """
    sc = model.scenario
    total = float(sum(p.budget for p in model.phases))
    try:
        static_sc = sc.replace(**{"budget.total": min(total, float(sc.budget.total))})
        static_model = PlanningModel(static_sc)
        static = static_model.solve(options)
        row_of = {sid: j for j, sid in enumerate(static_sc.region.candidates.index.astype(str))}
        chosen = {
            (row_of[str(s)], str(k))
            for s, k in zip(static.chosen_sites["site_id"], static.chosen_sites["facility_type"], strict=False)
        }
        restricted = PhasedPlanningModel(
            sc, model.periods.model_copy(update={"closures": {}}), population=model.population, only_sites=chosen
        )
        phased_static = restricted.solve(options, compare_static=False)
    except RegionoptError as err:
        return {"status": "failed", "message": str(err)}
    rows = []
    for t, p in enumerate(model.phases):
        a = result.periods.iloc[t]
        b = phased_static.periods.iloc[t]
        pa = _period_person_years(result, p.label)
        pb = _period_person_years(phased_static, p.label)
        rows.append(
            {
                "period": p.label,
                "phased_person_years": pa,
                "static_person_years": pb,
                "difference": pa - pb,
                "phased_rate": a["weighted_rate"],
                "static_rate": b["weighted_rate"],
                "phased_spent": a["spent"],
                "static_spent": b["spent"],
            }
        )
    built = int((phased_static.schedule["action"] == "build").sum()) if len(phased_static.schedule) else 0
    return {
        "definition": "the scenario's single-period plan on the demand layer's (base-year) population with "
        f"budget.total = {min(total, float(sc.budget.total)):,.0f} yuan (the sum of the period "
        "budgets), its sites then phased in at best by the phased model restricted to them "
        "(same periods, budgets and population, no closures)",
        "static_status": static.status,
        "static_gap": static.gap,
        "static_sites": len(chosen),
        "static_sites_built_in_horizon": built,
        "schedule_status": phased_static.status,
        "schedule_gap": phased_static.gap,
        "phased_person_years": result.person_years,
        "static_person_years": phased_static.person_years,
        "table": pd.DataFrame(rows),
    }


def solve_phased(scenario: Scenario, options: SolverOptions | None = None) -> PhasedResult:
    """Shorthand for ``PhasedPlanningModel(scenario).solve(options)``."""
    return PhasedPlanningModel(scenario).solve(options)
