"""Hand a PuLP model to HiGHS in bulk (column-wise), bypassing PuLP's row-by-row path."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from typing import NamedTuple

import highspy
import numpy as np
import pulp
import scipy.sparse as sp

from .highs import highs_lp, highs_outcome, new_highs, run_highs_interruptibly
from .options import SolveReport, SolverOptions
from .versions import solver_versions_cached

# =========================================================================== HiGHS transfer


# PuLP's (status, solution status) for each outcome, as its own HiGHS interface would set them.
PULP_STATUS = {
    "optimal": (pulp.LpStatusOptimal, pulp.LpSolutionOptimal),
    "feasible": (pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible),
    "infeasible": (pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible),
    "unbounded": (pulp.LpStatusUnbounded, pulp.LpSolutionUnbounded),
    "no_solution": (pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound),
    "error": (pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound),
}


def solve_highs_bulk(
    problem: pulp.LpProblem,
    options: SolverOptions,
    start: dict[str, float] | None = None,
    *,
    heuristic_effort: float | None = None,
    bulk: BulkLp | None = None,
    variables: list[pulp.LpVariable] | None = None,
    fixed: tuple[np.ndarray, np.ndarray] | None = None,
) -> SolveReport:
    """Solve ``problem`` with HiGHS, passing the whole model as one CSC matrix.

    Same outcome as :func:`optimizer.solvers.solve_problem` with HiGHS — values
    set on the PuLP variables, ``problem.status`` assigned, an honest
    :class:`SolveReport` — but without PuLP's row-by-row ``addRow`` transfer,
    and with an optional MIP start (variable name -> value; unnamed variables
    start at 0; HiGHS ignores a start that is infeasible). The objective's
    constant is HiGHS' offset, as on the PuLP path, so HiGHS stops at the gap
    of the whole objective. ``heuristic_effort`` sets HiGHS'
    ``mip_heuristic_effort`` (default 0.05): it changes the search, never
    what is proven.

    ``bulk`` (with the ``variables`` it was made from, :func:`bulk_lp`)
    reuses a conversion of ``problem`` made before, which must still be
    current; ``fixed`` = (columns, values) fixes those columns at those
    values in HiGHS only (the PuLP bounds are not touched).
    """

    t0 = time.perf_counter()
    if bulk is None or variables is None:
        variables = problem.variables()
        bulk = bulk_lp(problem, variables)
    h = new_configured_highs(options)
    if heuristic_effort is not None and bulk.is_mip:
        h.setOptionValue("mip_heuristic_effort", float(heuristic_effort))
    h.passModel(bulk.lp)
    if fixed is not None and len(fixed[0]):
        columns, fixed_at = np.asarray(fixed[0], dtype=np.int32), np.asarray(fixed[1], dtype=float)
        h.changeColsBounds(len(columns), columns, fixed_at, fixed_at)
    if start and bulk.is_mip:
        _set_mip_start(h, variables, start)
    run_highs_interruptibly(h)
    seconds = time.perf_counter() - t0
    problem.solverModel = h
    model_status = h.getModelStatus()
    info = h.getInfo()
    has_primal = info.primal_solution_status == 2  # kSolutionStatusFeasible
    if has_primal:
        values = h.getSolution().col_value
        for v, x in zip(variables, values, strict=False):
            v.varValue = x
    obj_value = None
    if has_primal:
        objective = problem.objective
        obj_value = pulp.value(objective) if objective is not None and len(objective) else bulk.constant
    bound, shift = _bulk_bound(h, info, bulk, model_status, has_primal, obj_value)
    status, bound, gap = highs_outcome(model_status, has_primal, obj_value, bound)
    problem.assignStatus(*PULP_STATUS[status])
    return SolveReport(
        status,
        obj_value,
        bound,
        gap,
        seconds,
        "highs",
        solver_versions_cached("highs"),
        h.modelStatusToString(model_status),
        extra={
            "transfer": "bulk passModel",
            "nonzeros": bulk.nnz,
            "mip_start": bool(start),
            "objective_constant": bulk.constant,
            "highs_objective_shift": shift,
            "mip_heuristic_effort": heuristic_effort if bulk.is_mip else None,
            "solver_gap": info.mip_gap if bulk.is_mip and math.isfinite(info.mip_gap) else None,
        },
    )


class BulkLp(NamedTuple):
    """A PuLP model as one HiGHS LP, and what reading the solution back needs."""

    lp: highspy.HighsLp
    cost: np.ndarray  # objective coefficient per column (without the constant)
    constant: float  # the objective's constant, HiGHS' offset
    is_mip: bool
    nnz: int


def bulk_lp(problem: pulp.LpProblem, variables: list[pulp.LpVariable]) -> BulkLp:
    """The model as a column-wise :class:`highspy.HighsLp`; numbers the variables (``v.index``) as its columns."""
    ncol = len(variables)
    for k, v in enumerate(variables):
        v.index = k
    inf = highspy.kHighsInf
    lower = np.array([-inf if v.lowBound is None else v.lowBound for v in variables], dtype=float)
    upper = np.array([inf if v.upBound is None else v.upBound for v in variables], dtype=float)
    integer = np.array([v.cat == pulp.LpInteger for v in variables], dtype=bool)
    cost = np.zeros(ncol)
    objective = problem.objective
    constant = 0.0
    if objective is not None:
        constant = float(objective.constant)
        if len(objective):
            idx = np.fromiter((v.index for v in objective), dtype=np.int64, count=len(objective))
            cost[idx] = np.fromiter(objective.values(), dtype=float, count=len(objective))
    constraints = list(constraint_dict(problem).values())
    lengths = np.fromiter((len(c.expr) for c in constraints), dtype=np.int64, count=len(constraints))
    nnz = int(lengths.sum())
    cols = np.fromiter((v.index for c in constraints for v in c.expr), dtype=np.int64, count=nnz)
    vals = np.fromiter((x for c in constraints for x in c.expr.values()), dtype=float, count=nnz)
    row_lower = np.array([-inf if c.getLb() is None else c.getLb() for c in constraints], dtype=float)
    row_upper = np.array([inf if c.getUb() is None else c.getUb() for c in constraints], dtype=float)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    csc = sp.csr_array((vals, cols, indptr), shape=(len(constraints), ncol)).tocsc()

    is_mip = bool(integer.any())
    # PuLP keeps the objective's constant (e.g. people existing facilities
    # already cover) apart; as HiGHS' offset it counts in HiGHS' relative gap,
    # which is then the gap reported for the whole objective.
    lp = highs_lp(
        cost,
        (lower, upper),
        (row_lower, row_upper),
        csc,
        maximize=problem.sense == pulp.LpMaximize,
        integer=integer if is_mip else None,
        offset=constant,
    )
    return BulkLp(lp, cost, constant, is_mip, nnz)


def new_configured_highs(options: SolverOptions) -> highspy.Highs:
    """A HiGHS instance with the gap, time limit, threads and output of ``options``."""
    h = new_highs(options.msg)
    h.setOptionValue("output_flag", bool(options.msg))
    h.setOptionValue("mip_rel_gap", float(options.mip_gap))
    if options.mip_gap == 0:
        h.setOptionValue("mip_abs_gap", 0.0)
    if options.time_limit is not None:
        h.setOptionValue("time_limit", float(options.time_limit))
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    return h


def _set_mip_start(h: highspy.Highs, variables: list[pulp.LpVariable], start: dict[str, float]) -> None:
    """Give HiGHS a MIP start: variable name -> value, unnamed variables at 0."""
    x0 = np.zeros(len(variables))
    for k, v in enumerate(variables):
        x0[k] = start.get(v.name, 0.0)
    sol = highspy.HighsSolution()
    sol.col_value = x0.tolist()
    sol.value_valid = True
    h.setSolution(sol)


def _bulk_bound(
    h: highspy.Highs,
    info: highspy.HighsInfo,
    bulk: BulkLp,
    model_status: highspy.HighsModelStatus,
    has_primal: bool,
    obj_value: float | None,
) -> tuple[float | None, float]:
    """The proven bound in the model's own terms, and the objective shift of HiGHS' presolved space."""
    # HiGHS 1.16 reports objective and dual bound in its presolved space when
    # a MIP start was given, i.e. without the constant its presolve moved out
    # of the objective (pmed14: 168 reported for a plan whose c·x is 242; the
    # search itself is consistent, only the reported numbers are shifted).
    # The plan's value is recomputed from the solution, and the bound is
    # shifted by the same amount (0 when HiGHS reports in the model's terms,
    # the objective constant being its offset).
    shift = 0.0
    if has_primal and math.isfinite(info.objective_function_value):
        cx = float(np.dot(bulk.cost, np.asarray(h.getSolution().col_value))) + bulk.constant
        shift = cx - float(info.objective_function_value)
    bound = None
    if bulk.is_mip:
        if math.isfinite(info.mip_dual_bound):
            bound = float(info.mip_dual_bound) + shift
    elif model_status == highspy.HighsModelStatus.kOptimal:
        bound = obj_value
    return bound, shift


def bulk_var(
    problem: pulp.LpProblem, name: str, low: float | None, up: float | None, cat: str = pulp.LpContinuous
) -> pulp.LpVariable:
    """A variable; PuLP >= 3.3 wants them made by the problem (no deprecation warning per variable)."""
    make = getattr(problem, "add_variable", None)
    if make is not None:
        return make(name, low, up, cat)
    return pulp.LpVariable(name, low, up, cat)  # pragma: no cover - PuLP < 3.3


def numbered_vars(problem: pulp.LpProblem, prefix: str, count: int, low: float, up: float) -> np.ndarray:
    """Continuous variables ``{prefix}_0`` … ``{prefix}_{count-1}`` in ``[low, up]``, as an object array.

    The variables :func:`bulk_var` would make; where this PuLP's variables have the layout
    :func:`_plain_variable` checks and the prefix is a legal name, they are made without PuLP's
    per-variable name and bound checks (done once here).
    """
    legal = not pulp.LpElement.expression.match(prefix) and prefix.translate(pulp.LpElement.trans) == prefix
    out = np.empty(count, dtype=object)
    if not (legal and math.isfinite(low) and math.isfinite(up) and _plain_variable()):
        out[:] = [bulk_var(problem, f"{prefix}_{s}", low, up) for s in range(count)]
        return out
    new, variable_type = pulp.LpVariable.__new__, pulp.LpVariable
    made = []
    for s in range(count):
        v = new(variable_type)
        v.__dict__.update(
            _LpElement__name=f"{prefix}_{s}",
            hash=id(v),
            modified=True,
            _lowbound_original=low,
            lowBound=low,
            _upbound_original=up,
            upBound=up,
            cat=pulp.LpContinuous,
            varValue=None,
            dj=None,
        )
        made.append(v)
    out[:] = made
    return out


@functools.cache
def _plain_variable() -> bool:
    """Whether PuLP's variables hold just the attributes :func:`numbered_vars` sets directly."""
    v = bulk_var(pulp.LpProblem("probe"), "x", 0, 1)
    return vars(v) == {
        "_LpElement__name": "x",
        "hash": id(v),
        "modified": True,
        "_lowbound_original": 0,
        "lowBound": 0,
        "_upbound_original": 1,
        "upBound": 1,
        "cat": pulp.LpContinuous,
        "varValue": None,
        "dj": None,
    }


def bulk_affine(
    variables: Sequence[pulp.LpVariable] | np.ndarray, coefs: Sequence[float] | np.ndarray, constant: float = 0.0
) -> pulp.LpAffineExpression:
    """An expression from parallel sequences, built in one dict update (no per-term Python arithmetic)."""
    e = pulp.LpAffineExpression(zip(variables, np.asarray(coefs, dtype=float).tolist(), strict=False))
    e.constant = float(constant)
    return e


def add_bulk_rows(
    problem: pulp.LpProblem, var_arr: np.ndarray, csr: sp.csr_array, sense: int, rhs: np.ndarray, names: Sequence[str]
) -> None:
    """Add one constraint per CSR row: ``row · var_arr  sense  rhs``, in bulk.

    The rows are the PuLP objects ``pulp.LpConstraint(pulp.LpAffineExpression(...), sense, name, rhs)``
    would make; where this PuLP's objects have the layout :func:`_plain_rows` checks, they are made
    without PuLP's per-object checks (names as given, the right-hand sides finite), about twice as fast.
    """
    cons = constraint_dict(problem)
    n_rows = csr.shape[0]
    ptr = csr.indptr.tolist()
    terms = var_arr[csr.indices].tolist()
    coefs = csr.data.astype(float).tolist()
    rhs = np.asarray(rhs, dtype=float)
    if not np.isfinite(rhs).all():  # as pulp.LpConstraint would
        raise pulp.PulpError("Cannot set constraint RHS to NaN/inf values")
    constants = (0.0 - rhs).tolist()  # PuLP's expr.constant - rhs
    if not _plain_rows():  # pragma: no cover - another PuLP's layout: its own constructors
        for r in range(n_rows):
            a, b = ptr[r], ptr[r + 1]
            expr = pulp.LpAffineExpression(zip(terms[a:b], coefs[a:b], strict=True))
            cons[names[r]] = pulp.LpConstraint(expr, sense, names[r], -constants[r])
        return
    new_expr, new_con, fill = pulp.LpAffineExpression.__new__, pulp.LpConstraint.__new__, dict.update
    expr_type, con_type = pulp.LpAffineExpression, pulp.LpConstraint
    for r in range(n_rows):
        a, b = ptr[r], ptr[r + 1]
        expr = new_expr(expr_type)
        fill(expr, zip(terms[a:b], coefs[a:b], strict=True))
        expr.__dict__.update(_LpAffineExpression__name=None, constant=0.0)
        con = new_con(con_type)
        name = names[r]
        con.__dict__.update(
            expr=expr, _LpConstraint__name=name, constant=constants[r], sense=sense, pi=None, slack=None, modified=True
        )
        cons[name] = con


@functools.cache
def _plain_rows() -> bool:
    """Whether PuLP's expressions and constraints hold just the attributes :func:`add_bulk_rows` sets directly."""
    probe = pulp.LpProblem("probe")
    x = bulk_var(probe, "x", 0, 1)
    con = pulp.LpConstraint(pulp.LpAffineExpression([(x, 1.0)]), pulp.LpConstraintGE, "r", 1.0)
    return vars(con.expr) == {"_LpAffineExpression__name": None, "constant": 0.0} and vars(con) == {
        "expr": con.expr,
        "_LpConstraint__name": "r",
        "constant": -1.0,
        "sense": pulp.LpConstraintGE,
        "pi": None,
        "slack": None,
        "modified": True,
    }


def constraint_dict(problem: pulp.LpProblem) -> dict:
    """The problem's name -> constraint dict (PuLP 3.3 deprecates dict access through ``.constraints``)."""
    cons = getattr(problem, "_constraints", None)
    return cons if isinstance(cons, dict) else problem.constraints
