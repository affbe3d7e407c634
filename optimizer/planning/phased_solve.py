"""Solving a phased plan: a restricted-MIP incumbent, and HiGHS stopped at the scenario's gap.

Split from :mod:`optimizer.planning.phased` (one job: handing the built
program to the solver). The person-years already covered by existing
facilities that no decision can change are a constant of the objective
(2.9 of the 3.6 billion weighted person-years of ``configs/zhejiang-2035.yaml``).
PuLP's HiGHS interface, and :func:`optimizer.solvers.highs_bulk._solve_highs_bulk`,
keep that constant out of HiGHS, so HiGHS measures its relative gap against
the variable part alone and keeps searching long after the reported gap,
``|objective − bound| / |objective|`` of the whole objective, is within
``solver.mip_gap`` (about five times longer a gap to close on the Zhejiang
default). Here the constant is HiGHS' objective offset: HiGHS' own stopping
rule is then the reported gap. The plan's value is recomputed from the
solution and the bound read from HiGHS in the same terms (shifted like the
bulk path does, should HiGHS report in its presolved space).

Incumbent. On the Zhejiang default the LP bound is tight (within 0.03 % of
the optimum after HiGHS' root cuts) but HiGHS finds a plan that good only
late in the tree. Before the full solve, the LP relaxation is solved and a
*kernel* MIP — the full program with every decision group (one site and
type over all periods, or one closable facility) whose LP values are all
zero fixed at zero — is solved within a share of the time limit. Its plan is
feasible for the full program (only bounds were tightened). It is NOT given
to HiGHS as a MIP start (HiGHS 1.16 mishandles starts on presolved models,
see benchmarks/README.md); instead the full solve is interrupted as soon as
HiGHS' proven dual bound ``B`` (valid for the full program at any moment of
its search) is within ``solver.mip_gap`` of the better of the two plans:
``(B − best) / |best| ≤ mip_gap``. That plan is then optimal within the gap
by the same definition as any other result, with ``B`` as its bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import highspy
import numpy as np
import pulp

from ..solvers.highs import highs_outcome, run_highs_interruptibly
from ..solvers.highs_bulk import _PULP_STATUS, _bulk_lp, _BulkLp, _new_configured_highs
from ..solvers.options import SolveReport, SolverOptions, relative_gap
from ..solvers.pulp_path import solve_problem
from ..solvers.versions import solver_versions_cached

__all__ = ["solve_phased_problem"]


# Share of the time limit (and at most this many seconds) the kernel MIP may use.
_KERNEL_SHARE = 0.25
_KERNEL_MAX_SECONDS = 120.0
# An LP value above this puts a decision group in the kernel.
_KERNEL_LP_EPS = 1e-6


def solve_phased_problem(
    problem: pulp.LpProblem,
    options: SolverOptions,
    groups: Sequence[Sequence[pulp.LpVariable]] = (),
) -> SolveReport:
    """Solve ``problem`` in place; with HiGHS, the objective's constant is HiGHS' offset.

    Parameters
    ----------
    problem
        The phased program (or any PuLP problem).
    options
        Solver, time limit and gap; CBC goes through
        :func:`optimizer.solvers.solve_problem` unchanged.
    groups
        Decision groups for the kernel incumbent (see the module docstring):
        each a list of integer variables decided together (a site's periods).
        Empty: no kernel stage.

    Returns
    -------
    SolveReport
        As :func:`optimizer.solvers.solve_problem` reports it: values set on the
        problem's variables, ``problem.status`` assigned, status, objective,
        proven bound and gap of the whole objective. ``extra`` says whether the
        kernel plan was kept.
    """
    if options.name != "highs":
        return solve_problem(problem, options)
    t0 = time.perf_counter()
    variables = problem.variables()
    bulk = _bulk_lp(problem, variables)
    bulk.lp.offset_ = bulk.constant
    kernel: _Kernel | None = None
    if bulk.is_mip and groups:
        kernel = _kernel_plan(bulk, groups, options)
    remaining = None if options.time_limit is None else max(1.0, options.time_limit - (time.perf_counter() - t0))
    h = _new_configured_highs(options)
    if remaining is not None:
        h.setOptionValue("time_limit", float(remaining))
    h.passModel(bulk.lp)
    stop = _GapStop(options.mip_gap, kernel.value if kernel is not None else None, problem.sense == pulp.LpMaximize)
    if kernel is not None:
        h.cbMipInterrupt.subscribe(stop)
    run_highs_interruptibly(h)
    seconds = time.perf_counter() - t0
    problem.solverModel = h
    return _report(problem, variables, bulk, h, kernel, stop, seconds)


class _Kernel:
    """The kernel MIP's plan: column values and the objective value (constant included)."""

    def __init__(self, values: np.ndarray, value: float, seconds: float, size: int, status: str) -> None:
        self.values = values
        self.value = value
        self.seconds = seconds
        self.size = size
        self.status = status


class _GapStop:
    """HiGHS MIP-interrupt callback: stop once the dual bound is within the gap of the best plan known."""

    def __init__(self, gap: float, incumbent: float | None, maximize: bool) -> None:
        self.gap = gap
        self.incumbent = incumbent
        self.maximize = maximize
        self.fired = False
        self.bound: float | None = None

    def __call__(self, event: highspy.highs.HighsCallbackEvent) -> None:
        out = event.data_out
        bound = float(out.mip_dual_bound)
        if self.incumbent is None or not math.isfinite(bound):
            return
        best = self.incumbent
        primal = float(out.mip_primal_bound)
        if math.isfinite(primal):
            best = max(best, primal) if self.maximize else min(best, primal)
        gap = relative_gap(best, bound)
        if gap is not None and gap <= self.gap:
            self.fired = True
            self.bound = bound
            event.interrupt()


def _kernel_plan(bulk: _BulkLp, groups: Sequence[Sequence[pulp.LpVariable]], options: SolverOptions) -> _Kernel | None:
    """LP relaxation, then the MIP with every all-zero decision group fixed at zero (module docstring)."""
    t0 = time.perf_counter()
    budget = (
        _KERNEL_MAX_SECONDS
        if options.time_limit is None
        else min(_KERNEL_MAX_SECONDS, _KERNEL_SHARE * options.time_limit)
    )
    lp = _clone(bulk.lp, integral=False)
    h = _new_configured_highs(SolverOptions(time_limit=budget, threads=options.threads))
    h.passModel(lp)
    run_highs_interruptibly(h)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    x_lp = np.asarray(h.getSolution().col_value, dtype=float)
    upper = np.asarray(bulk.lp.col_upper_, dtype=float).copy()
    lower = np.asarray(bulk.lp.col_lower_, dtype=float)
    free = 0
    for group in groups:
        idx = np.fromiter((v.index for v in group), dtype=np.int64, count=len(group))
        if (np.abs(x_lp[idx]) > _KERNEL_LP_EPS).any() or (lower[idx] > 0).any():
            free += 1
        else:
            upper[idx] = np.minimum(upper[idx], 0.0)
    restricted = _clone(bulk.lp, upper=upper)
    left = budget - (time.perf_counter() - t0)
    if left <= 1.0:
        return None
    h = _new_configured_highs(SolverOptions(time_limit=left, mip_gap=options.mip_gap / 2, threads=options.threads))
    h.passModel(restricted)
    run_highs_interruptibly(h)
    if h.getInfo().primal_solution_status != 2:
        return None
    values = np.asarray(h.getSolution().col_value, dtype=float)
    value = float(np.dot(bulk.cost, values)) + bulk.constant
    status = h.modelStatusToString(h.getModelStatus())
    return _Kernel(values, value, time.perf_counter() - t0, free, status)


def _clone(lp: highspy.HighsLp, *, upper: np.ndarray | None = None, integral: bool = True) -> highspy.HighsLp:
    """A copy of ``lp`` (highspy's ``HighsLp`` has no copy), with other column upper bounds or no integrality."""
    out = highspy.HighsLp()
    out.num_col_ = lp.num_col_
    out.num_row_ = lp.num_row_
    out.col_cost_ = lp.col_cost_
    out.col_lower_ = lp.col_lower_
    out.col_upper_ = lp.col_upper_ if upper is None else upper
    out.row_lower_ = lp.row_lower_
    out.row_upper_ = lp.row_upper_
    out.offset_ = lp.offset_
    out.sense_ = lp.sense_
    out.a_matrix_.format_ = lp.a_matrix_.format_
    out.a_matrix_.start_ = lp.a_matrix_.start_
    out.a_matrix_.index_ = lp.a_matrix_.index_
    out.a_matrix_.value_ = lp.a_matrix_.value_
    if integral:
        out.integrality_ = lp.integrality_
    return out


def _report(
    problem: pulp.LpProblem,
    variables: list[pulp.LpVariable],
    bulk: _BulkLp,
    h: highspy.Highs,
    kernel: _Kernel | None,
    stop: _GapStop,
    seconds: float,
) -> SolveReport:
    """Set the better plan on the variables and report what was proven."""
    model_status = h.getModelStatus()
    info = h.getInfo()
    has_primal = info.primal_solution_status == 2  # kSolutionStatusFeasible
    maximize = problem.sense == pulp.LpMaximize
    objective: float | None = None
    shift = 0.0
    values: np.ndarray | None = None
    if has_primal:
        values = np.asarray(h.getSolution().col_value, dtype=float)
        objective = float(np.dot(bulk.cost, values)) + bulk.constant
        if math.isfinite(info.objective_function_value):
            shift = objective - float(info.objective_function_value)
    kept_kernel = kernel is not None and (
        objective is None or (kernel.value > objective if maximize else kernel.value < objective)
    )
    if kept_kernel:
        assert kernel is not None
        values, objective, has_primal = kernel.values, kernel.value, True
    if values is not None:
        for v, x in zip(variables, values.tolist(), strict=False):
            v.varValue = x
    bound: float | None = None
    if bulk.is_mip:
        if math.isfinite(info.mip_dual_bound):
            bound = float(info.mip_dual_bound) + shift
    elif model_status == highspy.HighsModelStatus.kOptimal:
        bound = objective
    if stop.fired:
        # Interrupted here: the plan is within the gap of HiGHS' dual bound, by the gap's own definition.
        status, gap = "optimal", relative_gap(objective, bound)
    else:
        status, bound, gap = highs_outcome(model_status, has_primal, objective, bound)
    problem.assignStatus(*_PULP_STATUS[status])
    extra: dict[str, object] = {
        "transfer": "bulk passModel, objective constant as HiGHS offset",
        "nonzeros": bulk.nnz,
        "objective_constant": bulk.constant,
        "highs_objective_shift": shift,
        "solver_gap": info.mip_gap if bulk.is_mip and math.isfinite(info.mip_gap) else None,
    }
    if kernel is not None:
        extra["kernel"] = {
            "groups_free": kernel.size,
            "objective": kernel.value,
            "seconds": round(kernel.seconds, 2),
            "status": kernel.status,
            "plan_kept": kept_kernel,
            "stopped_at_gap": stop.fired,
        }
    return SolveReport(
        status,
        objective,
        bound,
        gap,
        seconds,
        "highs",
        solver_versions_cached("highs"),
        h.modelStatusToString(model_status),
        extra=extra,
    )
