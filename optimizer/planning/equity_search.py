"""Equity by bottleneck search: bisection on the level of a stage's objective.

Stage 1 of the equity objective maximises ``t``, the lowest coverage rate
among the compared units. Branch and bound on that max-min objective is
slow: raising one unit's rate moves no bound while ninety other units sit at
it (measured on the Zhejiang default: the bound stays 8 % above the best
plan after 150 s, see benchmarks/README.md). A bottleneck objective is solved
exactly by bisection on its level instead: each probe asks "can every
compared unit reach rate ≥ τ within the budget?" — the same problem with
``t ≥ τ`` and no objective, a feasibility question the solver answers by
finding any plan or by proving there is none. A plan found at τ is then
scored exactly (its integer decisions fixed, the rest an LP), which usually
lifts the lower end of the interval well above τ; an infeasible probe lowers
the upper end to τ. The search stops when the gap between the ends
(:func:`~optimizer.solvers.relative_gap`, HiGHS' convention: absolute for
values below 1) is at most ``mip_gap``, so the best plan is optimal at the
scenario's gap — the same promise a direct solve makes.

The search can start from a known plan (its value the first lower end) and a
known bound (the first upper end), as :func:`~optimizer.planning.equity_bound.solve_stage1`
does after its plain solve and Lagrangian bound. This hands the solver the
one thing its own heuristics lack on this problem — a known plan (HiGHS 1.16
takes no safe MIP start, see benchmarks/README.md) — without the solver's
start mechanism. (Ported from the h14/p14 branches of issue 14.)

The probes are solved on :attr:`PlanningModel.problem` itself (only the
objective, one probe row and the bounds of fixed decisions change, and are
restored), so rows a study added to the problem hold in every probe and the
result is exact for the problem as it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pulp

from ..solvers import SolveReport, SolverOptions, relative_gap, solve_problem
from ..solvers.highs_bulk import constraint_dict

if TYPE_CHECKING:  # pragma: no cover - annotations only (model.py imports the equity modules)
    from .model import PlanningModel

__all__ = [
    "bisect_maximum",
    "equity_row_names",
    "equity_row_units",
    "LazyRows",
    "LEVEL_RESOLUTION",
    "PROBE_CEILING_ROW",
    "PROBE_ROW",
]

#: Levels closer than this (relative, HiGHS' convention: absolute below 1)
#: are not told apart: the solver accepts a plan 1e-6 off integer and rows
#: 1e-6 off, which can move a unit's rate by a few 1e-6, so a probe this much
#: above the best plan is the finest question whose "yes" means a better plan.
LEVEL_RESOLUTION = 1e-5

#: Name of the row ``objective ≥ level`` a probe adds (and removes again).
PROBE_ROW = "equity_probe"
#: Name of the row ``objective ≤ bound`` the check probe adds (and removes again): the proven bound, for HiGHS' gap test.
PROBE_CEILING_ROW = "equity_probe_ceiling"

#: :meth:`_Search._probe_once`'s answer when a relaxed probe's plan broke left-out rows: the level is asked again.
_ASK_AGAIN = "ask again"


@dataclass
class LazyRows:
    """Rows ``rate_u − d_u t ≥ 0`` a probe may leave out until a plan breaks them (row generation).

    A probe at level τ keeps only the rows whose ``ease`` (the rate the unit
    reaches without any spending) is below τ, and the rows added since. The
    probe is then a relaxation: "no plan" for it is "no plan" for the whole
    problem. A plan it finds is scored on the whole problem (every row back);
    if a left-out row holds it below τ, that row is kept from then on and the
    level is asked again. Every claim the search makes is thus one of the
    whole problem's; the rows only make the questions smaller.

    Parameters
    ----------
    rows
        The rows by name, each ``rate expression − d·t ≥ 0`` with ``d > 0``.
    level
        The level variable ``t``.
    ease
        Per row, the level it holds at without spending (rows not given are always kept).
    """

    rows: dict[str, pulp.LpConstraint]
    level: pulp.LpVariable
    ease: dict[str, float]
    kept: set[str] = field(default_factory=set)

    def left_out(self, level: float) -> list[str]:
        """The rows a probe at ``level`` leaves out."""
        return [name for name in self.rows if name not in self.kept and self.ease.get(name, -1.0) >= level]

    def broken(self, values: dict[str, float | None], names: list[str], level: float) -> list[str]:
        """Those of ``names`` whose unit is below ``level`` at ``values`` (beyond the solver's tolerance)."""
        out = []
        for name in names:
            row = self.rows[name]
            d = -float(row.get(self.level, 0.0))
            if d <= 0:
                continue
            rate = float(row.constant) + sum(
                float(coef) * float(values.get(v.name) or 0.0) for v, coef in row.items() if v is not self.level
            )
            if rate / d < level - LEVEL_RESOLUTION * max(1.0, abs(level)):
                out.append(name)
        return out


def equity_row_names(model: PlanningModel) -> list[str]:
    """The stage-1 rows ``rate_u − t ≥ 0`` of the model's compared units (see ``PlanningModel._objective``)."""
    rows = constraint_dict(model.problem)
    return [f"equity_{key}" for key in model.unit_expr if f"equity_{key}" in rows]


def equity_row_units(model: PlanningModel) -> dict[str, str]:
    """The compared unit of each of :func:`equity_row_names`' rows (row name → unit id), in their order."""
    rows = constraint_dict(model.problem)
    return {f"equity_{key}": str(model.compare_labels[key]) for key in model.unit_expr if f"equity_{key}" in rows}


def _integer_variables(prob: pulp.LpProblem) -> list[pulp.LpVariable]:
    return [v for v in prob.variables() if v.cat == pulp.LpInteger]


def _remaining(options: SolverOptions, deadline: float | None, cap: float | None = None) -> SolverOptions:
    """``options`` with the time left before ``deadline`` (at most ``cap`` seconds) as its time limit."""
    if deadline is None:
        return options if cap is None else replace(options, time_limit=cap)
    left = max(1.0, deadline - time.perf_counter())
    return replace(options, time_limit=left if cap is None else min(left, cap))


def _lp_bound(prob: pulp.LpProblem, expr: pulp.LpAffineExpression, options: SolverOptions) -> SolveReport:
    """The LP relaxation's maximum of ``expr`` (an upper bound on the MIP's)."""
    integers = _integer_variables(prob)
    try:
        for v in integers:
            v.cat = pulp.LpContinuous
        prob.setObjective(expr)
        return solve_problem(prob, options)
    finally:
        for v in integers:
            v.cat = pulp.LpInteger


def score_plan(
    prob: pulp.LpProblem, expr: pulp.LpAffineExpression, plan: dict[str, float | None], options: SolverOptions
) -> tuple[float | None, dict[str, float | None]]:
    """The maximum of ``expr`` with ``plan``'s integer decisions fixed (the rest is an LP).

    Returns the value (``None`` if the fixed plan has no completion) and
    every variable's value at it.
    """
    integers = _integer_variables(prob)
    bounds = [(v.lowBound, v.upBound) for v in integers]
    try:
        for v in integers:
            value = float(round(plan.get(v.name) or 0.0))
            v.lowBound = v.upBound = value
        prob.setObjective(expr)
        rep = solve_problem(prob, replace(options, mip_gap=0.0))
        if not rep.has_solution or rep.objective is None:
            return None, plan
        return float(rep.objective), {v.name: v.varValue for v in prob.variables()}
    finally:
        for v, (low, up) in zip(integers, bounds, strict=False):
            v.lowBound, v.upBound = low, up


def bisect_maximum(
    prob: pulp.LpProblem,
    expr: pulp.LpAffineExpression,
    options: SolverOptions,
    *,
    start: dict[str, float | None] | None = None,
    upper: float | None = None,
    probe_seconds: float | None = None,
    lazy: LazyRows | None = None,
    check_span: float | None = None,
) -> tuple[SolveReport, dict[str, float | None] | None]:
    """Maximise ``expr`` over ``prob`` by bisection on its level, within ``options.time_limit``.

    Parameters
    ----------
    prob
        A maximisation problem; its objective is replaced during the search
        and set to ``expr`` at the end, with the best plan's values on the variables.
    expr
        What to maximise (``t`` for stage 1).
    options
        Solver, time limit (for the whole search) and ``mip_gap`` (on ``expr``).
    start
        A known plan (its integer decisions are scored, see :func:`score_plan`).
    upper
        A known upper bound on ``expr`` (e.g. ``t ≤ 1``). With a ``start``,
        the LP relaxation is then not solved for a bound.
    probe_seconds
        At most this long per probe, except the check probe at the best
        plan's value plus the gap (asked after a level is proven out of
        reach), which gets the time left. A probe stopped by this cap proves
        nothing; the search goes on below its level (without it, the first
        probe that ends unproven ends the search). The check probe is an
        optimisation: max ``expr`` subject to ``expr ≥ level`` (and ``≤`` the
        bound). "No plan" is the same proof as a feasibility probe's; a plan
        it finds is the best above the level it found, not just any, and a
        stop by the time limit still leaves its bound (every plan is below
        the level or below that bound).
    lazy
        Rows each probe may leave out until a plan breaks them (:class:`LazyRows`; exact, see there).
    check_span
        Whenever the interval is at most this wide (after the start or any
        probe), the next probe is the check probe: the caller knows that so
        close to the best plan midpoints are not worth their caps.

    Returns
    -------
    report, plan
        The report (``objective`` the best plan's value, ``bound`` the lowest
        level proven out of reach or the LP bound, ``gap`` between them,
        ``extra["probes"]`` one record per probe) and the best plan's variable
        values (``None`` without one).
    """
    search = _Search(prob, expr, options, upper, probe_seconds)
    search.lazy = lazy
    search.check_span = check_span
    try:
        early = search.begin(start)
        if early is not None:
            return early, None
        while not search.proven():
            if search.deadline is not None and time.perf_counter() >= search.deadline:
                search.message = "time limit reached during the bisection"
                break
            if search.open_below_soft_hi():
                search.message = "the probes just above the best plan stopped unproven"
                break
            outcome = search.probe(search.next_level())
            if outcome is not None:
                if isinstance(outcome, SolveReport):
                    return outcome, None
                search.message = outcome
                break
        else:
            search.status = "optimal"
            search.message = f"bisection on the level: {len(search.probes)} solves"
    finally:
        search.cons.pop(PROBE_ROW, None)
        search.cons.pop(PROBE_CEILING_ROW, None)
        prob.setObjective(expr)
    return search.report()


class _Search:
    """The state of :func:`bisect_maximum`: the interval [lo, hi], the best plan, one record per probe."""

    def __init__(
        self,
        prob: pulp.LpProblem,
        expr: pulp.LpAffineExpression,
        options: SolverOptions,
        upper: float | None,
        probe_seconds: float | None,
    ) -> None:
        self.prob, self.expr, self.options, self.probe_seconds = prob, expr, options, probe_seconds
        self.t_start = time.perf_counter()
        self.deadline = self.t_start + options.time_limit if options.time_limit else None
        self.cons = constraint_dict(prob)
        self.probes: list[dict] = []
        self.best: dict[str, float | None] | None = None
        self.lo = float("-inf")
        self.hi = float("inf") if upper is None else float(upper)
        self.upper_given = upper is not None
        self.soft_hi = float("inf")  # lowest level whose probe stopped unproven: searched below, never reported
        self.status, self.message, self.version = "feasible", "", ""
        self.last_was_check = False
        self.check_span: float | None = None
        self.lazy: LazyRows | None = None
        self.last_values: dict[str, float | None] | None = None

    def record(self, level: float | None, outcome: str, value: float | None, t0: float, left_out: int = 0) -> None:
        """One record of ``extra["probes"]`` (``rows_left_out``: lazy rows the probe left out)."""
        self.probes.append(
            {
                "level": level,
                "outcome": outcome,
                "value": value,
                "seconds": time.perf_counter() - t0,
                "rows_left_out": left_out,
            }
        )

    def take(self, plan: dict[str, float | None]) -> float | None:
        """Score ``plan``; it becomes the best plan (and its value ``lo``) if better."""
        value, values = score_plan(self.prob, self.expr, plan, _remaining(self.options, self.deadline))
        self.last_values = values if value is not None else None
        if value is not None and value > self.lo:
            self.lo, self.best = value, values
        return value

    def target(self) -> float:
        """The gap to prove, in the units of expr (relative_gap's convention)."""
        return max(self.options.mip_gap, LEVEL_RESOLUTION) * max(1.0, abs(self.lo))

    def proven(self) -> bool:
        """The ends are within the gap to prove."""
        # 1e-9: hi = lo + target() computed in floating point may exceed target() by rounding.
        return self.lo > float("-inf") and self.hi - self.lo <= self.target() * (1.0 + 1e-9)

    def open_below_soft_hi(self) -> bool:
        """No level is left to probe: the lowest unproven probe is within the gap to prove above the best plan.

        With the same rounding allowance as :meth:`proven`: a probe at
        ``lo + target()`` stopped by its cap leaves ``soft_hi - lo`` a
        rounding error above ``target()``, and without the allowance the
        search would probe that same level again until its time ran out
        (measured on the Zhejiang default: four probes at 0.3236, 225 s).
        Without a plan yet the search goes on (it used to stop before its
        first probe when it had no start).
        """
        # Without a plan (lo = -inf) target() is inf too: the search has not begun, whatever soft_hi says.
        return self.lo > float("-inf") and self.soft_hi - self.lo <= self.target() * (1.0 + 1e-9)

    def begin(self, start: dict[str, float | None] | None) -> SolveReport | None:
        """The LP bound (unless a bound and a start are given) and the start's score; a report if infeasible."""
        if not self.upper_given or start is None:
            t0 = time.perf_counter()
            lp = _lp_bound(self.prob, self.expr, _remaining(self.options, self.deadline))
            self.version = lp.solver_version
            self.record(None, f"LP bound ({lp.status})", lp.objective, t0)
            if lp.status == "infeasible":
                return replace(lp, seconds=time.perf_counter() - self.t_start, extra={"probes": self.probes})
            lp_value = lp.objective if lp.objective is not None else pulp.value(self.expr)
            if lp.status == "optimal" and lp_value is not None:
                self.hi = min(self.hi, float(lp_value))
        if start is not None:
            t0 = time.perf_counter()
            self.take(start)
            self.record(None, "start", self.lo if self.best is not None else None, t0)
        return None

    def next_level(self) -> float | None:
        """The next level to probe (``None``: any plan at all)."""
        lo, hi, target = self.lo, self.hi, self.target()
        if lo == float("-inf"):
            level = None  # first: any plan at all
        elif hi == float("inf"):
            level = lo + max(target, abs(lo))
        elif self._check_next():
            # After a level out of reach, ask whether the best plan is already optimal (at lo + the gap
            # to prove): often it is, and one probe then ends the search instead of halving on.
            level = lo + target
        else:
            # The midpoint (below any level whose probe stopped unproven), never closer to lo than the gap.
            top = min(hi, self.soft_hi)
            level = min(max(lo + (top - lo) / 2.0, lo + target), top)
        self.last_was_check = (
            level is not None and hi < float("inf") and abs(level - (lo + target)) <= 1e-12 * max(1.0, abs(lo))
        )
        return level

    def _check_next(self) -> bool:
        """Whether the next probe is the check probe: after a level out of reach, or in a narrow interval."""
        outcome = self.probes[-1]["outcome"]
        narrow = self.check_span is not None and self.hi - self.lo <= self.check_span
        if narrow and (outcome in ("start", "plan") or not self.last_was_check):
            return True
        return outcome.startswith(("no plan", "plan within")) and not self.last_was_check

    def probe(self, level: float | None) -> str | SolveReport | None:
        """Ask for a plan at ``level``; a message (or an infeasibility report) when the search must stop.

        With :attr:`lazy` rows the level is asked again, with the rows its
        plan broke kept, until the plan holds on the whole problem, a probe
        proves the level out of reach, or the time ends.
        """
        while True:
            outcome = self._probe_once(level)
            if outcome != _ASK_AGAIN:
                return outcome
            if self.deadline is not None and time.perf_counter() >= self.deadline:
                return "time limit reached while rows were added to a probe"

    def _solve_probe(self, level: float | None) -> tuple[SolveReport, int]:
        """The probe's solve (the left-out lazy rows put back afterwards, in their order); and how many were left out."""
        self.cons.pop(PROBE_ROW, None)
        if level is not None:
            self.prob += (self.expr >= level, PROBE_ROW)
        if level is not None and self.optimising(level):
            # The check probe maximises: the best plan above the level, and a bound if it stops.
            self.prob += (self.expr <= max(self.hi, level), PROBE_CEILING_ROW)
            self.prob.setObjective(self.expr)
        else:
            # A feasibility question: no objective (one zero term keeps PuLP's writers happy).
            self.prob.setObjective(pulp.LpAffineExpression([(next(iter(self.expr.keys())), 0.0)]))
        # The check probe at lo + the gap is the last question of the search ("is the best plan optimal?"):
        # stopped by a cap it would only be asked again, so it gets all the time left.
        cap = None if self.last_was_check else self.probe_seconds
        left_out = self.lazy.left_out(level) if self.lazy is not None and level is not None else []
        order = list(self.cons.items())
        for name in left_out:
            self.cons.pop(name, None)
        try:
            rep = solve_problem(self.prob, _remaining(self.options, self.deadline, cap))
        finally:
            if left_out:
                self.cons.clear()
                self.cons.update(order)
            self.cons.pop(PROBE_ROW, None)
            self.cons.pop(PROBE_CEILING_ROW, None)
        return rep, len(left_out)

    def optimising(self, level: float | None) -> bool:
        """Whether the probe at ``level`` maximises (the check probe under a finite bound) rather than asks."""
        return self.last_was_check and level is not None and self.hi < float("inf")

    def _probe_bound(self, level: float | None, rep: SolveReport) -> None:
        """An optimising probe's bound: every plan is below ``level`` or below the solver's bound."""
        if self.optimising(level) and rep.bound is not None and rep.bound == rep.bound and level is not None:
            self.hi = min(self.hi, max(float(rep.bound), level))

    def _probe_once(self, level: float | None) -> str | SolveReport | None:
        t0 = time.perf_counter()
        rep, left_out = self._solve_probe(level)
        self.version = rep.solver_version or self.version
        if rep.status != "infeasible":
            self._probe_bound(level, rep)
        if rep.has_solution:
            return self._plan_found(level, t0, left_out)
        if rep.status == "infeasible":
            self.record(level, "no plan", None, t0, left_out)
            if level is None:  # no plan at all: the problem itself is infeasible
                return replace(rep, seconds=time.perf_counter() - self.t_start, extra={"probes": self.probes})
            self.hi = min(self.hi, level)
            return None
        self.record(level, rep.status, None, t0, left_out)
        if level is None or self.probe_seconds is None:
            return f"a probe stopped unproven ({rep.status}: {rep.message})"
        # Stopped by its own cap: no proof either way; go on below that level (plans there raise lo).
        self.soft_hi = min(self.soft_hi, level)
        return None

    def _plan_found(self, level: float | None, t0: float, left_out: int = 0) -> str | None:
        value = self.take({v.name: v.varValue for v in self.prob.variables()})
        if left_out and level is not None and self.lazy is not None and (value is None or value < level):
            # A relaxed probe's plan, short of the level on the whole problem: keep the rows it breaks, ask again.
            values = self.last_values or {v.name: v.varValue for v in self.prob.variables()}
            broken = self.lazy.broken(values, self.lazy.left_out(level), level)
            if broken:
                self.lazy.kept.update(broken)
                self.record(level, f"relaxed plan: {len(broken)} row(s) kept", value, t0, left_out)
                return _ASK_AGAIN
        resolution = LEVEL_RESOLUTION * max(1.0, abs(level or 0.0))
        if level is not None and value is not None and level - resolution <= value < level:
            # The solver's plan reaches the level only within its tolerances (decisions 1e-6 off
            # integer, rows 1e-6 off): its rounded plan does not. The level counts as out of reach,
            # as it would for the solver's own optimality test.
            self.hi = min(self.hi, level)
            self.record(level, "plan within tolerance only", value, t0, left_out)
        elif level is not None and (value is None or value < level):
            self.record(level, "plan lost by rounding", value, t0, left_out)
            return "a probe's plan, rounded, fell short of its level; the search stopped unproven"
        else:
            self.record(level, "plan", self.lo, t0, left_out)
        return None

    def report(self) -> tuple[SolveReport, dict[str, float | None] | None]:
        """The search's report and the best plan (its values set on the variables)."""
        seconds = time.perf_counter() - self.t_start
        options, probes = self.options, self.probes
        if self.best is None:
            bound = self.hi if self.hi < float("inf") else None
            message = self.message or "no plan found"
            return SolveReport(
                "no_solution", None, bound, None, seconds, options.name, self.version, message, {"probes": probes}
            ), None
        for v in self.prob.variables():
            if v.name in self.best:
                v.varValue = self.best[v.name]
        bound = max(self.hi, self.lo)  # lo may pass an LP bound by the LP's tolerance
        gap = relative_gap(self.lo, bound) or 0.0
        report = SolveReport(
            self.status, self.lo, bound, gap, seconds, options.name, self.version, self.message, {"probes": probes}
        )
        return report, self.best
