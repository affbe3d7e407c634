r"""Certified upper bounds on the equity level: a Lagrangian test per compared unit.

Stage 1 of the equity objective maximises ``t``, the lowest coverage rate
among the compared units. HiGHS' bound on it is the LP relaxation's, moved
little by its cuts (on the Zhejiang default 0.346 at the root, 0.343 after
120 s, while no plan reaches 0.33): the LP buys fractions of county-level
facilities, each a large lump of a county's rate. This module asks a sharper
question for a level :math:`\tau` — can every compared unit reach rate
:math:`\ge \tau` within the budgets? — and answers "no" with a proof where it
can.

The probe :math:`P(\tau)`: ``t`` fixed at :math:`\tau`, minimise
:math:`\theta` with every budget row (a ``≤`` row over site decisions with
non-negative costs) scaled, :math:`a_b y \le \theta U_b`; the level is out
of reach iff :math:`\theta^* > 1`. Its LP relaxation gives duals
:math:`\lambda`. The rows are split into *blocks*, one per compared unit: a
row belongs to unit :math:`u` when all its continuous variables are in
:math:`u`'s equity row (coverage rows, assignment rows, the equity row);
every other row (budgets, capacity shared across units, standards, rows a
study added) is *coupling* and is relaxed with its LP dual. A variable used
by several blocks (a site reaching several counties) gets a copy in each,
priced so the copies' prices add up to the variable's relaxed cost. Each
block is then a small MIP ("the cheapest way, at these prices, to lift unit
:math:`u` to :math:`\tau`"), and

.. math::

   L(\lambda) = \sum_{i \in \text{coupling}} \lambda_i b_i
      + \min_{0 \le \theta \le 1} \bar c_\theta \theta
      + \sum_{\text{blocks}} \min_{\text{block}} + \sum_{\text{free vars}} \min

is a lower bound on :math:`\min \theta` over :math:`\theta \le 1` (weak
Lagrangian duality: any multipliers and any split of the copies' prices give
one). :math:`L > 1` proves :math:`\tau` out of reach. With the LP's own
duals the blocks' LP relaxations add up to the LP value, so the test is never
weaker than the LP; the blocks' integrality is what it adds. Block MIPs
stopped by the time limit count with their proven dual bound, and blocks not
solved with the closed-form dual bound of their LP, so every bound is
proven whatever the time allows. Measured on the Zhejiang default: the LP
needs 0.83 of the budgets at :math:`\tau` = 0.335 and 0.90 at 0.34; the test
gives 0.99 and 1.013 — 0.34 is proven out of reach in about 20 s.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import highspy
import numpy as np
import pulp
import scipy.sparse as sp

from ..solvers import SolveReport, SolverOptions, relative_gap, solve_problem
from ..solvers.highs import highs_lp, lp_matrix, new_highs
from ..solvers.highs_bulk import bulk_lp, constraint_dict
from .equity_plan import improve_stage1, search_deadline
from .equity_search import (
    LEVEL_RESOLUTION,
    LazyRows,
    _remaining,
    bisect_maximum,
    equity_row_names,
    equity_row_units,
    score_plan,
)
from .lp_plan import solve_lp_guided

if TYPE_CHECKING:
    from .model import PlanningModel

__all__ = ["LevelTest", "UnitBlocks", "relaxation_bound", "solve_stage1", "unit_groups"]

#: Stage 1's first solve of max t (:func:`_first_solve`) gets this share of the time limit (at least
#: FIRST_SECONDS): small models end there, proven, exactly as before.
FIRST_SHARE, FIRST_SECONDS = 0.1, 10.0
#: Whether that first solve is LP-guided with HiGHS (:func:`~optimizer.planning.lp_plan.solve_lp_guided`: the
#: LP's bound, a plan from the sub-MIP around its fractional sites, then branch and bound above that plan with
#: reduced-cost fixing) instead of plain branch and bound. Measured on the Zhejiang default (benchmarks/README.md,
#: "Session 17"): ``group_vs_rest`` proven at once (0.46028 against the LP's 0.46061 in 5.5 s; the whole stage
#: ended 0.00143 short in 300 s before); ``units_in_group`` in 30 s 0.32576, bound 0.33824 (plain: 0.3213, 0.3489).
LP_GUIDED_FIRST = True
#: The Lagrangian search steps down from the bound by this share of it per test.
BOUND_STEP = 0.02
#: Rows of the last solve (:func:`_finish`): only levels above the best plan and below the bound.
FLOOR_ROW, CEILING_ROW = "equity_floor", "equity_ceiling"
#: Share of the time left for the Lagrangian bound, and the cap on each feasibility probe afterwards.
BOUND_SHARE, PROBE_SHARE = 0.3, 0.2
#: Share of the time left for the LP bound after the plain solve (see :func:`_lp_upper`).
LP_SHARE = 0.15
#: Share of the time left for the rates without spending (see :func:`_lazy_equity_rows`).
EASE_SHARE = 0.05
#: Whether the level probes leave out the rows of units that reach the level without spending. Off: exact
#: and tested, but measured on the Zhejiang default no faster (A/B at load 5.6-6.9: the same probes, plans
#: 0.31677 with and 0.31731 without; benchmarks/README.md, session s14-eq).
LAZY_EQUITY_ROWS = False

#: Share of the time left after the LP for the few-cities relaxations (:func:`_relaxations`). Measured on the
#: Zhejiang default (s15, load 6-9): Lishui's counties alone proven in 15-22 s (0.33007), with Hangzhou's in 82 and
#: 92 s (0.3290), but not within the 94 s a share of 0.5 left in a third run: 0.6 (~145 s of the ~245 s left after
#: the plain solve and the LP) covers both steps; the rest goes to the probes (their first plan took 38-44 s there).
RELAX_SHARE = 0.6
#: Duals (and dual × limit) at most this are no weight: the LP's noise, not a binding row.
DUAL_ZERO = 1e-9
#: The next level probe is the check probe (max t above the best plan, the time left) whenever the interval is at
#: most this many gaps to prove: on the Zhejiang default ([0.3231, 0.3290], 12 gaps) feasibility probes at
#: 0.3235-0.327 found no plan in 45-60 s caps, the optimisation probe at 0.3236 found 0.32400 (s14-eq).
CHECK_SPAN_GAPS = 20.0

#: A proof needs the Lagrangian value this far above 1 (the budgets' scale):
#: HiGHS accepts rows 1e-7 off and decisions 1e-6 off integer, which moves the
#: blocks' minima by far less than this.
PROOF_MARGIN = 1e-6


@dataclass
class LevelTest:
    """The answer for one level: the LP's and the Lagrangian's budget scale, and whether the level is out of reach."""

    level: float
    lp_theta: float | None  # min θ of the LP relaxation (None: LP infeasible)
    theta: float  # the Lagrangian lower bound on min θ (θ ≤ 1); inf: proven infeasible outright
    out_of_reach: bool
    seconds: float
    blocks_solved: int = 0
    blocks: int = 0

    def to_dict(self) -> dict:
        """Plain values for the stage report."""
        return {
            "level": self.level,
            "lp_theta": self.lp_theta,
            "lagrangian_theta": self.theta if math.isfinite(self.theta) else None,
            "out_of_reach": self.out_of_reach,
            "seconds": round(self.seconds, 3),
            "blocks_solved": self.blocks_solved,
            "blocks": self.blocks,
        }


@dataclass
class _Block:
    """One compared unit's rows and the columns they use (a copy of each)."""

    rows: np.ndarray
    cols: np.ndarray
    matrix: sp.csc_array  # rows x cols
    highs: highspy.Highs | None = None
    point: np.ndarray | None = None  # the last MIP's plan (None: not solved, or no plan)


class UnitBlocks:
    """The stage-1 equity problem split into one block per compared unit, for :meth:`test` at a level.

    Parameters
    ----------
    problem
        The stage-1 problem (``t`` as objective; any rows a study added are kept, as coupling or block rows).
    t
        The level variable ``t`` (``min_rate``).
    equity_rows
        Names of the equity rows ``rate_u(y) − t ≥ 0`` (one per compared unit).
    """

    def __init__(self, problem: pulp.LpProblem, t: pulp.LpVariable, equity_rows: list[str]) -> None:
        variables = problem.variables()
        bulk = bulk_lp(problem, variables)
        lp = bulk.lp
        names = list(constraint_dict(problem))
        self.n, self.m = lp.num_col_, lp.num_row_
        self.csr = lp_matrix(lp).tocsr()
        self.integer = np.array([v.cat == pulp.LpInteger for v in variables], dtype=bool)
        self.row_lower = np.asarray(lp.row_lower_, dtype=float)
        self.row_upper = np.asarray(lp.row_upper_, dtype=float)
        self.col_lower = np.asarray(lp.col_lower_, dtype=float)
        self.col_upper = np.asarray(lp.col_upper_, dtype=float)
        self.t_col = t.index
        position = {name: i for i, name in enumerate(names)}
        self.equity_rows = np.array([position[r] for r in equity_rows if r in position], dtype=np.int64)
        self.budget_rows = self._budget_rows()
        self.row_block = self._row_blocks()
        self.blocks = self._blocks()
        self._probe: highspy.Highs | None = None

    # ------------------------------------------------------------------ structure
    def _budget_rows(self) -> np.ndarray:
        """``≤`` rows over integer columns with non-negative coefficients and a positive limit (budgets, caps)."""
        rows = _budget_row_mask(self.csr, self.integer, self.row_lower, self.row_upper)
        rows[self.equity_rows] = False
        return np.flatnonzero(rows)

    def _equity_groups(self) -> np.ndarray:
        """The block of each equity row: one per compared unit."""
        return np.arange(len(self.equity_rows), dtype=np.int64)

    def _row_blocks(self) -> np.ndarray:
        """The block of each row, -1 for coupling rows.

        A row belongs to the lowest block whose equity rows hold all the
        row's continuous variables; rows over integer variables only
        (budgets, hard standards) and rows mixing blocks' variables are
        coupling.
        """
        group = self._equity_groups()
        member: dict[int, set[int]] = {}  # column -> the blocks whose equity rows hold it
        for b, r in zip(group.tolist(), self.equity_rows.tolist(), strict=True):
            for c in self.csr.indices[self.csr.indptr[r] : self.csr.indptr[r + 1]].tolist():
                member.setdefault(c, set()).add(b)
        row_block = np.full(self.m, -1, dtype=np.int64)
        continuous = ~self.integer
        for i in range(self.m):
            cols = self.csr.indices[self.csr.indptr[i] : self.csr.indptr[i + 1]]
            cont = cols[continuous[cols]].tolist()
            if not cont or any(c not in member for c in cont):
                continue
            common = set(member[cont[0]])
            for c in cont[1:]:
                common &= member[c]
                if not common:
                    break
            if common:
                row_block[i] = min(common)
        row_block[self.budget_rows] = -1
        row_block[self.equity_rows] = group
        return row_block

    def _blocks(self) -> list[_Block]:
        order = np.argsort(self.row_block, kind="stable")
        keys = self.row_block[order]
        blocks = []
        for b in range(int(self.row_block.max(initial=-1)) + 1):
            rows = order[np.searchsorted(keys, b, "left") : np.searchsorted(keys, b, "right")]
            sub = self.csr[rows]
            cols = np.unique(sub.indices)
            local = np.full(self.n, -1, dtype=np.int64)
            local[cols] = np.arange(len(cols))
            matrix = sp.csr_array((sub.data, local[sub.indices], sub.indptr), shape=(len(rows), len(cols))).tocsc()
            blocks.append(_Block(rows, cols, matrix))
        return blocks

    # ------------------------------------------------------------------ the probe LP P(τ)
    def _probe_lp(self) -> highspy.Highs:
        """``min θ`` with ``a_b y ≤ θ U_b`` on the budget rows; ``t`` is fixed per level by :meth:`test`."""
        if self._probe is not None:
            return self._probe
        inf = highspy.kHighsInf
        budget = self.budget_rows
        theta = sp.csr_array(
            (-self.row_upper[budget], (budget, np.zeros(len(budget), dtype=np.int64))), shape=(self.m, 1)
        )
        matrix = sp.hstack([self.csr, theta]).tocsc()
        upper = self.row_upper.copy()
        upper[budget] = 0.0
        lp = highs_lp(
            np.r_[np.zeros(self.n), 1.0],
            (np.r_[self.col_lower, 0.0], np.r_[self.col_upper, inf]),
            (self.row_lower, upper),
            matrix,
        )
        h = new_highs()
        h.setOptionValue("output_flag", False)
        h.passModel(lp)
        self._probe = h
        self._probe_upper = upper
        return h

    @staticmethod
    def _run(h: highspy.Highs, seconds: float) -> None:
        # HiGHS' time limit counts the object's whole run time, not this run's.
        h.setOptionValue("time_limit", h.getRunTime() + max(seconds, 0.01))
        h.run()

    # ------------------------------------------------------------------ the test
    def test(self, level: float, seconds: float = 60.0) -> LevelTest:
        """Can every compared unit reach rate ``level`` within the budgets? ``out_of_reach`` is a proof of "no"."""
        t0 = time.perf_counter()
        deadline = t0 + seconds
        blocks = len(self.blocks)
        if len(self.budget_rows) == 0 or self.t_col is None:
            return LevelTest(level, None, -math.inf, False, time.perf_counter() - t0, 0, blocks)
        h = self._probe_lp()
        h.changeColBounds(self.t_col, level, level)
        self._run(h, seconds)
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            return LevelTest(level, None, math.inf, True, time.perf_counter() - t0, 0, blocks)
        if status != highspy.HighsModelStatus.kOptimal:
            return LevelTest(level, None, -math.inf, False, time.perf_counter() - t0, 0, blocks)
        lp_theta = float(h.getInfo().objective_function_value)
        y = np.asarray(h.getSolution().row_dual, dtype=float)
        y[np.abs(y) < 1e-12] = 0.0  # any multipliers give a bound: drop the noise
        theta, solved = self._lagrangian(level, y, deadline)
        out = theta > 1.0 + PROOF_MARGIN
        return LevelTest(level, lp_theta, theta, out, time.perf_counter() - t0, solved, blocks)

    def _lagrangian(self, level: float, y: np.ndarray, deadline: float) -> tuple[float, int]:
        """``L(y)`` (see the module docstring) and how many block MIPs were solved."""
        col_lower = self.col_lower.copy()
        col_upper = self.col_upper.copy()
        col_lower[self.t_col] = col_upper[self.t_col] = level
        coupling = self.row_block < 0
        y_c = np.where(coupling, y, 0.0)
        # Σ_i λ_i b_i over the coupling rows, with the side each multiplier's sign selects.
        upper = self._probe_upper
        pos, neg = y_c > 0, y_c < 0
        if not (np.isfinite(self.row_lower[pos]).all() and np.isfinite(upper[neg]).all()):
            return -math.inf, 0
        value = float(np.dot(y_c[pos], self.row_lower[pos]) + np.dot(y_c[neg], upper[neg]))
        # θ in [0, 1]: its relaxed cost is 1 + Σ_b λ_b U_b.
        theta_cost = 1.0 + float(np.dot(y_c[self.budget_rows], self.row_upper[self.budget_rows]))
        value += min(0.0, theta_cost)
        relaxed = -(self.csr.T @ y_c)  # every column's cost after relaxing the coupling rows (objective 0)
        y_local = np.where(coupling, 0.0, y)
        reduced = relaxed - self.csr.T @ y_local
        copies = np.zeros(self.n, dtype=np.int64)
        for block in self.blocks:
            copies[block.cols] += 1
        free = copies == 0
        value += _box_minimum(relaxed[free], col_lower[free], col_upper[free])
        solved = 0
        for block in self.blocks:
            cost = block.matrix.T @ y[block.rows] + reduced[block.cols] / copies[block.cols]
            block_value, did = self._block_minimum(block, cost, y, col_lower, col_upper, deadline)
            solved += did
            value += block_value
            if value == -math.inf:
                return value, solved
        return value, solved

    def _block_minimum(
        self,
        block: _Block,
        cost: np.ndarray,
        y: np.ndarray,
        col_lower: np.ndarray,
        col_upper: np.ndarray,
        deadline: float,
    ) -> tuple[float, int]:
        """A proven lower bound on the block's MIP minimum at ``cost``: the MIP's, else the LP dual's; and 1 if solved."""
        lower, upper = col_lower[block.cols], col_upper[block.cols]
        block.point = None
        # Without time: the dual bound of the block's LP from the probe's duals (weak duality).
        reduced = cost - block.matrix.T @ y[block.rows]
        rl, ru, yb = self.row_lower[block.rows], self.row_upper[block.rows], y[block.rows]
        if not (np.isfinite(rl[yb > 0]).all() and np.isfinite(ru[yb < 0]).all()):
            dual_bound = -math.inf
        else:
            dual_bound = float(np.dot(yb[yb > 0], rl[yb > 0]) + np.dot(yb[yb < 0], ru[yb < 0]))
            dual_bound += _box_minimum(reduced, lower, upper)
        remaining = deadline - time.perf_counter()
        if remaining <= 0 or not self.integer[block.cols].any():
            return dual_bound, 0
        h = self._block_highs(block, lower, upper)
        h.changeColsCost(len(cost), np.arange(len(cost), dtype=np.int32), np.asarray(cost, dtype=float))
        self._run(h, remaining)
        status = h.getModelStatus()
        block.point = np.asarray(h.getSolution().col_value, dtype=float) if h.getSolution().value_valid else None
        if status == highspy.HighsModelStatus.kInfeasible:
            return math.inf, 1
        if status == highspy.HighsModelStatus.kOptimal:
            info = h.getInfo()
            return max(dual_bound, float(min(info.objective_function_value, info.mip_dual_bound))), 1
        bound = float(h.getInfo().mip_dual_bound)
        return max(dual_bound, bound if math.isfinite(bound) else -math.inf), 1

    def _block_highs(self, block: _Block, lower: np.ndarray, upper: np.ndarray) -> highspy.Highs:
        """The block's MIP (built once; the level only moves the bounds of ``t``)."""
        if block.highs is None:
            lp = highs_lp(
                np.zeros(len(block.cols)),
                (lower, upper),
                (self.row_lower[block.rows], self.row_upper[block.rows]),
                block.matrix,
                integer=self.integer[block.cols],
            )
            h = new_highs()
            h.setOptionValue("output_flag", False)
            h.setOptionValue("mip_rel_gap", 1e-9)
            h.setOptionValue("mip_abs_gap", 1e-12)
            h.passModel(lp)
            block.highs = h
        else:
            h = block.highs
            h.changeColsBounds(len(lower), np.arange(len(lower), dtype=np.int32), lower, upper)
        return h


def _budget_row_mask(
    csr: sp.csr_array, integer: np.ndarray, row_lower: np.ndarray, row_upper: np.ndarray
) -> np.ndarray:
    """Per row: a ``≤`` row over integer columns with non-negative coefficients and a positive limit (budgets, caps)."""
    m = csr.shape[0]
    rid = np.repeat(np.arange(m), np.diff(csr.indptr))
    bad = (~integer[csr.indices]) | (csr.data < 0)
    clean = np.bincount(rid, weights=bad.astype(float), minlength=m) == 0
    nonempty = np.diff(csr.indptr) > 0
    return clean & nonempty & np.isfinite(row_upper) & (row_upper > 0) & ~np.isfinite(row_lower)


def _box_minimum(cost: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """``min cost·x`` over the box ``lower ≤ x ≤ upper`` (-inf if unbounded)."""
    active = cost != 0
    c, lo, up = cost[active], lower[active], upper[active]
    at = np.where(c > 0, lo, up)
    if not np.isfinite(at).all():
        return -math.inf
    return float(np.dot(c, at))


def solve_stage1(model: PlanningModel, options: SolverOptions) -> SolveReport:
    """Equity stage 1 (max t) within ``options.time_limit``: first solve, bounds, then level probes.

    1. The first solve of max t (:func:`_first_solve`: LP-guided with HiGHS,
       else plain branch and bound) for a tenth of the time limit (at least
       :data:`FIRST_SECONDS`); a proven optimum ends stage 1 there.
    2. The LP relaxation (:func:`_lp_upper`, HiGHS whatever ``solver.name``
       says): its bound, and its duals, which choose
    3. the few-cities relaxations (:func:`unit_groups`,
       :func:`relaxation_bound`): max t with only the equity rows of the
       units under the most binding city caps, one more city per step while
       each step is proven within :data:`RELAX_SHARE` of the time left; their
       plans are scored on the whole problem and may be the best plan.
    4. Only if no relaxation lowered the bound below the LP's: the Lagrangian
       test (:meth:`UnitBlocks.test`, stepping down by :data:`BOUND_STEP`,
       at most :data:`BOUND_SHARE` of the time left; measured weaker than the
       relaxations on the Zhejiang default: 0.337 against 0.329).
    5. Level probes between the best plan and the bound
       (:func:`~optimizer.planning.equity_search.bisect_maximum`, each at
       most :data:`PROBE_SHARE` of the time limit but the check probe just
       above the best plan, which maximises t with the time left; it is
       asked whenever the interval is at most :data:`CHECK_SPAN_GAPS` gaps);
    6. the time left goes to branch and bound on max t over the levels still
       open (:func:`_finish`: ``lo + gap ≤ t ≤ hi``).

    The report's bound is the lowest level proven out of reach (by HiGHS, a
    relaxation, the Lagrangian test or a probe), its objective the best
    plan's minimum rate; ``optimal`` when they are within ``mip_gap``.
    """
    prob = model.problem
    t_start = time.perf_counter()
    limit = options.time_limit
    first_limit = None if limit is None else min(limit, max(FIRST_SECONDS, FIRST_SHARE * limit))
    first = _first_solve(model, replace(options, time_limit=first_limit))
    if first.is_optimal or first.status in ("infeasible", "unbounded", "error"):
        return first
    deadline = None if limit is None else t_start + limit
    plan = {v.name: v.varValue for v in prob.variables()} if first.has_solution else None
    lo = float(first.objective) if first.has_solution and first.objective is not None else 0.0
    hi = min(1.0, float(first.bound)) if first.bound is not None and math.isfinite(first.bound) else 1.0
    searched: list[dict] = []
    search_until = None if plan is None or deadline is None else search_deadline(deadline)
    if plan is not None and search_until is not None:  # the plan search around the bottleneck units (equity_plan.py)
        plan, lo, searched = improve_stage1(model, plan, lo, options, search_until)
    lp = _lp_upper(prob, model.t, options, deadline)
    hi = min(hi, lp.bound) if lp is not None else hi
    relaxed = _relaxations(model, lp, plan, lo, hi, options, deadline)
    if relaxed.plan is not None and (plan is None or relaxed.value > lo):
        plan, lo = relaxed.plan, relaxed.value
    tests: list[LevelTest] = []
    if relaxed.bound < hi - LEVEL_RESOLUTION:
        hi = relaxed.bound
    else:
        left = math.inf if deadline is None else deadline - time.perf_counter()
        tests = _lagrangian_search(model, lo, hi, options, min(left * BOUND_SHARE, 600.0))
    proven = [x.level for x in tests if x.out_of_reach]
    hi = min([hi, *proven])
    report, best = _probes(model, options, deadline, plan, lo, hi)
    finish = None
    if best is not None and not report.is_optimal and (deadline is None or deadline - time.perf_counter() > 1.0):
        report, finish = _finish(model, report, best, options, deadline)
    extra = dict(report.extra)
    if finish is not None:
        extra["finish"] = finish.to_dict()
    extra["first_solve"] = first.to_dict()
    extra["plan_search"] = searched
    extra["lp_bound"] = None if lp is None else {"bound": lp.bound, "seconds": round(lp.seconds, 3)}
    extra["relaxations"] = relaxed.records
    extra["lagrangian"] = [x.to_dict() for x in tests]
    bound = report.bound if report.bound is not None else hi
    gap = relative_gap(report.objective, bound)
    return replace(
        report,
        bound=bound,
        gap=gap,
        seconds=time.perf_counter() - t_start,
        message=f"max-min rate: first solve ({first.status}), {len(relaxed.records)} few-cities relaxation(s), "
        f"{len(tests)} Lagrangian level test(s) ({len(proven)} out of reach), level probes: {report.message}"
        + ("" if finish is None else f"; last solve above the best plan: {finish.status}"),
        extra=extra,
    )


def _first_solve(model: PlanningModel, options: SolverOptions) -> SolveReport:
    """Stage 1's first solve of max t: LP-guided with HiGHS (:data:`LP_GUIDED_FIRST`), else plain branch and bound.

    Either report's bound is proven (the LP-guided one is the LP's, or its
    branch and bound's above the sub-MIP plan raised to that plan's floor) and
    its plan is left on the variables.
    """
    if LP_GUIDED_FIRST and options.name == "highs":
        return solve_lp_guided(model, options, with_counts=False)
    return solve_problem(model.problem, options)


def _probes(
    model: PlanningModel,
    options: SolverOptions,
    deadline: float | None,
    plan: dict[str, float | None] | None,
    lo: float,
    hi: float,
) -> tuple[SolveReport, dict[str, float | None] | None]:
    """The level probes of :func:`~optimizer.planning.equity_search.bisect_maximum` from ``plan`` under ``hi``."""
    limit = options.time_limit
    remaining = None if deadline is None else max(1.0, deadline - time.perf_counter())
    probe = None if limit is None else max(FIRST_SECONDS, PROBE_SHARE * limit)
    t_expr = pulp.LpAffineExpression([(model.t, 1.0)])
    lazy = _lazy_equity_rows(model, options, deadline) if LAZY_EQUITY_ROWS else None
    target = max(options.mip_gap, LEVEL_RESOLUTION) * max(1.0, abs(lo))
    return bisect_maximum(
        model.problem,
        t_expr,
        replace(options, time_limit=remaining),
        start=plan,
        upper=hi,
        probe_seconds=probe,
        lazy=lazy,
        check_span=CHECK_SPAN_GAPS * target,
    )


@dataclass
class _LpUpper:
    """The LP relaxation of max t: its bound and its duals (absolute values) by row name."""

    bound: float
    equity: dict[str, float]  # equity rows
    budget: dict[str, float]  # budget rows (see _budget_row_mask): dual × limit
    seconds: float


def unit_groups(model: PlanningModel, lp: _LpUpper) -> list[list[str]]:
    """Groups of equity rows for the few-cities relaxations, the most binding first.

    One group per per-unit budget cap (``model.unit_caps``) whose LP dual ×
    limit is positive, in decreasing order of it: the compared units inside
    the capped unit (the model's hierarchy, :meth:`~optimizer.region.Region.ancestors_of`),
    kept when one of them carries an LP dual on its equity row. The units
    whose equity rows carry weight but lie under no binding cap follow, one
    group each, the heaviest first (so ``group_vs_rest`` and scenarios
    without caps still get relaxations).
    """
    unit_of = equity_row_units(model)
    names = list(unit_of)
    chains = model.scenario.region.ancestors_of(unit_of.values())
    weighted = {name for name in names if lp.equity.get(name, 0.0) > DUAL_ZERO}
    groups: list[list[str]] = []
    grouped: set[str] = set()
    for row, weight in sorted(lp.budget.items(), key=lambda item: -item[1]):
        capped = model.unit_caps.get(row)
        if weight <= DUAL_ZERO or capped is None:  # the total and the family budgets hold every unit
            continue
        members = [name for name in names if capped in chains[unit_of[name]]]
        if weighted.intersection(members) and not set(members) <= grouped:
            groups.append(members)
            grouped.update(members)
    for name in sorted(weighted - grouped, key=lambda n: -lp.equity[n]):
        groups.append([name])
    return groups


@dataclass
class _Relaxed:
    """What the few-cities relaxations proved: the best bound, the best plan on the whole problem, one record per step."""

    bound: float
    plan: dict[str, float | None] | None
    value: float
    records: list[dict]


def _relaxations(
    model: PlanningModel,
    lp: _LpUpper | None,
    plan: dict[str, float | None] | None,
    lo: float,
    hi: float,
    options: SolverOptions,
    deadline: float | None,
) -> _Relaxed:
    """The few-cities relaxations, one more group per step while each step is proven (:data:`RELAX_SHARE` of the time left)."""
    out = _Relaxed(math.inf, None, -math.inf, [])
    if lp is None:
        return out
    names = equity_row_names(model)
    stop = None if deadline is None else time.perf_counter() + (deadline - time.perf_counter()) * RELAX_SHARE
    t_expr = pulp.LpAffineExpression([(model.t, 1.0)])
    keep: set[str] = set()
    for group in unit_groups(model, lp):
        keep |= set(group)
        if len(keep) >= len(names):  # the whole problem: nothing relaxed (the probes ask that)
            break
        left = None if stop is None else stop - time.perf_counter()
        if left is not None and left < 1.0:
            break
        floor = lo if plan is not None else None
        rep, found = relaxation_bound(model, keep, replace(options, time_limit=left), floor=floor, ceiling=hi)
        record = {"units": len(keep), "status": rep.status, "bound": rep.bound, "seconds": round(rep.seconds, 3)}
        if rep.bound is not None:
            out.bound = min(out.bound, rep.bound)
            hi = min(hi, rep.bound)
        if found is not None:
            value, values = score_plan(model.problem, t_expr, found, _remaining(options, deadline))
            record["plan_value"] = value
            if value is not None and value > max(out.value, lo if plan is not None else -math.inf):
                out.plan, out.value = values, value
                plan, lo = values, value
        out.records.append(record)
        if rep.status not in ("optimal", "infeasible"):
            break
    model.problem.setObjective(t_expr)
    return out


def relaxation_bound(
    model: PlanningModel,
    keep: set[str],
    options: SolverOptions,
    *,
    floor: float | None = None,
    ceiling: float | None = None,
) -> tuple[SolveReport, dict[str, float | None] | None]:
    """Max t with only the equity rows ``keep`` (every other row kept): a relaxation, so its bound is the whole problem's.

    ``floor`` is a plan's level on the whole problem: the relaxation then asks
    only for ``t ≥ floor + gap`` (every plan below that is within the gap of
    the known one), and "infeasible" proves the known plan optimal.
    ``ceiling`` is a proven upper bound (``t ≤ ceiling``). Returns the
    solver's report with ``bound`` an upper bound on the whole problem's max
    t (``None``: none proven) and the relaxation's plan (``None`` without one;
    its value on the whole problem is :func:`score_plan`'s).
    """
    prob = model.problem
    cons = constraint_dict(prob)
    order = list(cons.items())
    lifted = None
    if floor is not None:
        lifted = floor + max(options.mip_gap, LEVEL_RESOLUTION) * max(1.0, abs(floor))
    try:
        for name in equity_row_names(model):
            if name not in keep:
                cons.pop(name, None)
        if lifted is not None:
            prob += (model.t >= lifted, FLOOR_ROW)
        if ceiling is not None:
            prob += (model.t <= max(ceiling, lifted or ceiling), CEILING_ROW)
        prob.setObjective(pulp.LpAffineExpression([(model.t, 1.0)]))
        rep = solve_problem(prob, options)
        found = {v.name: v.varValue for v in prob.variables()} if rep.has_solution else None
    finally:
        cons.clear()
        cons.update(order)
    if rep.status == "infeasible" and lifted is not None:
        bound: float | None = lifted
    elif rep.bound is not None and math.isfinite(rep.bound):
        bound = max(float(rep.bound), lifted if lifted is not None else -math.inf)
        bound = bound if ceiling is None else min(bound, max(ceiling, lifted or ceiling))
    else:
        bound = None
    return replace(rep, bound=bound), found


def _lazy_equity_rows(model: PlanningModel, options: SolverOptions, deadline: float | None) -> LazyRows | None:
    """The equity rows as :class:`~optimizer.planning.equity_search.LazyRows`, each with its unit's rate without spending.

    One LP (at most :data:`EASE_SHARE` of the time left): every integer
    decision at its lower bound (no new facility), maximise the sum of the
    units' rates. A unit whose rate there is at least τ needs no spending to
    reach τ (with every other unit at its rate of that same allocation), so
    a probe at τ can leave its row out until a plan breaks it; the probe is
    only ever a relaxation (see ``LazyRows``). Measured on the Zhejiang
    default: 31 of the 90 counties are below 0.3236 without spending, and
    the probe at 0.3236 over their rows found a plan of 0.32368 on the whole
    problem (the level search over all 90 rows had found none above 0.3231).
    ``None`` when that LP is not solved.
    """
    prob = model.problem
    names = equity_row_names(model)
    if not names:
        return None
    left = None if deadline is None else (deadline - time.perf_counter()) * EASE_SHARE
    if left is not None and left < 1.0:
        return None
    rows = constraint_dict(prob)
    keys = {f"equity_{key}": key for key in model.unit_expr}
    rate = pulp.LpAffineExpression()
    for name in names:
        d = model.unit_denominator.get(keys[name], 0.0)
        if d > 0:
            rate.addInPlace(model.unit_expr[keys[name]] * (1.0 / d))
    integers = [v for v in prob.variables() if v.cat == pulp.LpInteger]
    bounds = [(v.lowBound, v.upBound) for v in integers]
    try:
        for v in integers:
            v.upBound = v.lowBound if v.lowBound is not None else 0.0
        prob.setObjective(rate)
        report = solve_problem(prob, _remaining(replace(options, mip_gap=0.0), deadline, left))
        ease = {}
        if report.status == "optimal":
            for name in names:
                key = keys[name]
                d = model.unit_denominator.get(key, 0.0)
                value = pulp.value(model.unit_expr[key])
                if d > 0 and value is not None:
                    ease[name] = float(value) / d
    finally:
        for v, (low, up) in zip(integers, bounds, strict=False):
            v.lowBound, v.upBound = low, up
        prob.setObjective(pulp.LpAffineExpression([(model.t, 1.0)]))
    if not ease:
        return None
    return LazyRows({name: rows[name] for name in names}, model.t, ease)


def _lp_upper(
    prob: pulp.LpProblem, t: pulp.LpVariable, options: SolverOptions, deadline: float | None
) -> _LpUpper | None:
    """The LP relaxation's maximum of ``t`` and its duals (at most :data:`LP_SHARE` of the time left), or ``None``.

    The plain solve's bound is the LP's or better once HiGHS has solved its
    root, but on a loaded machine its time can end before that (measured on
    the Zhejiang default at load 8: bound 0.4395 after 41 s, LP 0.346), and the
    Lagrangian search would then spend its time on levels the LP already rules
    out. The duals choose the few-cities relaxations (:func:`unit_groups`).
    HiGHS solves it whatever ``solver.name`` says (as the Lagrangian test's LPs).
    """
    t0 = time.perf_counter()
    left = None if deadline is None else (deadline - time.perf_counter()) * LP_SHARE
    if left is not None and left < 1.0:
        return None
    prob.setObjective(pulp.LpAffineExpression([(t, 1.0)]))
    variables = prob.variables()
    bulk = bulk_lp(prob, variables)
    lp = bulk.lp
    lp.integrality_ = []
    h = new_highs()
    h.setOptionValue("output_flag", False)
    if left is not None:
        h.setOptionValue("time_limit", left)
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    names = list(constraint_dict(prob))
    dual = np.abs(np.asarray(h.getSolution().row_dual, dtype=float))
    csc = lp_matrix(lp)
    integer = np.array([v.cat == pulp.LpInteger for v in variables], dtype=bool)
    upper = np.asarray(lp.row_upper_, dtype=float)
    budget = np.flatnonzero(_budget_row_mask(csc.tocsr(), integer, np.asarray(lp.row_lower_, dtype=float), upper))
    equity = {name: float(dual[i]) for i, name in enumerate(names) if name.startswith("equity_")}
    # The LP's own tolerance: a plan may pass its value by that much (bisect_maximum takes max(hi, lo)).
    bound = float(h.getInfo().objective_function_value) + LEVEL_RESOLUTION
    return _LpUpper(
        bound,
        equity,
        {names[i]: float(dual[i] * upper[i]) for i in budget.tolist()},
        time.perf_counter() - t0,
    )


def _finish(
    model: PlanningModel,
    report: SolveReport,
    best: dict[str, float | None],
    options: SolverOptions,
    deadline: float | None,
) -> tuple[SolveReport, SolveReport]:
    """The time left: branch and bound on max t over the levels still open, ``lo + gap ≤ t ≤ hi``.

    Every plan there beats the best one by more than the gap to prove; "no
    such plan" proves the best plan optimal, and the solver's bound on that
    range (or ``lo + gap``) is a bound on the whole problem.
    """
    prob = model.problem
    cons = constraint_dict(prob)
    lo = float(report.objective or 0.0)
    hi = float(report.bound) if report.bound is not None else 1.0
    floor = lo + max(options.mip_gap, LEVEL_RESOLUTION) * max(1.0, abs(lo))
    left = None if deadline is None else max(1.0, deadline - time.perf_counter())
    t_expr = pulp.LpAffineExpression([(model.t, 1.0)])
    prob += (model.t >= floor, FLOOR_ROW)
    prob += (model.t <= max(hi, floor), CEILING_ROW)
    prob.setObjective(t_expr)
    try:
        last = solve_problem(prob, replace(options, time_limit=left))
        found = {v.name: v.varValue for v in prob.variables()} if last.has_solution else None
    finally:
        cons.pop(FLOOR_ROW, None)
        cons.pop(CEILING_ROW, None)
    if last.status == "infeasible":
        hi = floor
    elif last.bound is not None and math.isfinite(last.bound):
        hi = min(hi, max(float(last.bound), floor))
    if found is not None:
        value, values = score_plan(prob, t_expr, found, options)
        if value is not None and value > lo:
            lo, best = value, values
    prob.setObjective(t_expr)
    for v in prob.variables():
        if v.name in best:
            v.varValue = best[v.name]
    hi = max(hi, lo)
    gap = relative_gap(lo, hi) or 0.0
    status = "optimal" if gap <= max(options.mip_gap, LEVEL_RESOLUTION) * (1.0 + 1e-9) else "feasible"
    return replace(report, status=status, objective=lo, bound=hi, gap=gap), last


def _lagrangian_search(
    model: PlanningModel, lo: float, hi: float, options: SolverOptions, seconds: float
) -> list[LevelTest]:
    """Bisection on the level between ``lo`` (a plan's) and ``hi`` with :meth:`UnitBlocks.test`, within ``seconds``."""
    deadline = time.perf_counter() + seconds
    tests: list[LevelTest] = []
    if seconds <= 0 or hi <= lo:
        return tests
    blocks = UnitBlocks(model.problem, model.t, equity_row_names(model))
    resolution = max(options.mip_gap, LEVEL_RESOLUTION) * max(1.0, abs(lo))
    below, above = lo, hi  # a plan reaches `below`; `above` is proven out of reach (or the solver's bound)
    while above - below > resolution:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        # Steps down from the top, BOUND_STEP of the bound each: the test lifts the LP's budget scale
        # by some 15 % on the Zhejiang default (0.86 -> 1.0006 at 0.3367 under an LP bound of 0.346),
        # so its reach ends close under the LP bound, whatever the plans; the first level it cannot
        # prove ends the search.
        level = max(above - BOUND_STEP * max(abs(hi), resolution), (below + above) / 2.0)
        result = blocks.test(level, seconds=left)
        tests.append(result)
        if not result.out_of_reach:
            break
        above = level
    return tests
