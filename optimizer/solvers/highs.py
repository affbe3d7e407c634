"""HiGHS: one interruptible runner, banner silencing and one status/bound/gap mapping."""

from __future__ import annotations

import math
import signal
import threading
import time

import highspy
import numpy as np
import pulp
import scipy.sparse as sp

from .options import SolveReport, SolverOptions, _is_mip, relative_gap
from .versions import _silence_highs_banner, solver_versions_cached


def new_highs(msg: bool = False) -> highspy.Highs:
    """A ``highspy.Highs`` whose process-wide copyright banner does not reach stdout.

    The first ``Highs`` object of a process prints a banner on C stdout before
    any option can turn output off; it would corrupt e.g. JSON lines on
    stdout. Unless the caller wants solver output (``msg``), that first object
    is created with stdout pointed at /dev/null.
    """

    if not msg:
        _silence_highs_banner()
    return highspy.Highs()


def highs_lp(
    cost: np.ndarray,
    col_bounds: tuple[np.ndarray, np.ndarray],
    row_bounds: tuple[np.ndarray, np.ndarray],
    matrix: sp.sparray | sp.spmatrix,
    *,
    maximize: bool = False,
    integer: np.ndarray | None = None,
    offset: float = 0.0,
) -> highspy.HighsLp:
    """A HiGHS model in column-wise form: ``cost``, ``(lower, upper)`` per column and per row, rows × columns ``matrix``.

    ``integer`` (a boolean per column) makes it a MIP; ``offset`` is the
    objective's constant, which HiGHS counts in its relative gap.
    """
    csc = sp.csc_array(matrix)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = csc.shape[1], csc.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_, lp.col_upper_ = (np.asarray(b, dtype=np.float64) for b in col_bounds)
    lp.row_lower_, lp.row_upper_ = (np.asarray(b, dtype=np.float64) for b in row_bounds)
    lp.offset_ = float(offset)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32) if csc.nnz < 2**31 else csc.indptr
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data.astype(np.float64)
    if integer is not None:
        lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous for b in integer]
    return lp


def lp_matrix(lp: highspy.HighsLp) -> sp.csc_array:
    """The rows × columns matrix of a column-wise HiGHS model (as :func:`highs_lp` builds it), as scipy CSC."""
    a = lp.a_matrix_
    return sp.csc_array(
        (np.asarray(a.value_), np.asarray(a.index_), np.asarray(a.start_)), shape=(lp.num_row_, lp.num_col_)
    )


def run_highs_interruptibly(h: highspy.Highs) -> None:
    """``h.run()``, but stoppable by Ctrl-C / SIGTERM while HiGHS solves.

    ``Highs.run()`` is one C++ call during which Python delivers no signal:
    Ctrl-C would only take effect after the solve (up to the whole time
    limit). In the main thread HiGHS runs in highspy's solver thread instead
    while this thread waits in short slices; on KeyboardInterrupt (also raised
    for SIGTERM by the command line) the solve is cancelled through HiGHS'
    user-interrupt callback and the interrupt re-raised, so the caller writes
    nothing. (highspy's own ``joinSolve`` would swallow the interrupt and
    return a plan, which would then be written as a result.)
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(h, "startSolve"):
        # Signals reach only the main thread; nothing to watch for here.
        h.run()
        return
    h.HandleUserInterrupt = True
    # A signal landing inside highspy's startSolve (Python code) after the solver thread has
    # started would skip the cancel below and leave HiGHS running while the process exits
    # ("terminate called without an active exception", SIGABRT instead of exit code 130):
    # hold SIGINT/SIGTERM until the thread runs, then let them in where they are handled.
    watched = {signal.SIGINT, signal.SIGTERM}
    mask = getattr(signal, "pthread_sigmask", None)
    try:
        held = mask(signal.SIG_BLOCK, watched) if mask else None
        try:
            h.startSolve()
        finally:
            if mask:
                mask(signal.SIG_SETMASK, held)
        while not h.wait(0.1)[0]:
            pass
    except BaseException:
        h.cancelSolve()
        # Wait until HiGHS has stopped, however long a busy machine makes that take: leaving
        # its thread running would abort the process at exit. Asked twice: stop waiting.
        try:
            while not h.wait(0.1)[0]:
                pass
        except KeyboardInterrupt:
            pass
        raise


class _InterruptibleHiGHS(pulp.HiGHS):
    """PuLP's HiGHS interface, stoppable by Ctrl-C / SIGTERM (see :func:`run_highs_interruptibly`)."""

    def callSolver(self, lp: pulp.LpProblem) -> None:
        # PuLP leaves the objective's constant (e.g. people existing facilities
        # already cover) out of HiGHS, so HiGHS would measure its relative gap
        # against the variable part alone and search far past the reported gap
        # of the whole objective. As HiGHS' offset (in its minimising sense,
        # see pulp's buildSolverModel) the two gaps are the same.
        constant = lp.objective.constant if lp.objective is not None else 0.0
        if constant:
            lp.solverModel.changeObjectiveOffset(-constant if lp.sense == pulp.LpMaximize else constant)
        run_highs_interruptibly(lp.solverModel)


def highs_outcome(
    model_status: highspy.HighsModelStatus, has_primal: bool, objective: float | None, bound: float | None
) -> tuple[str, float | None, float | None]:
    """What a HiGHS stop proved: ``(status, bound, gap)`` in :class:`SolveReport`'s terms.

    ``bound`` is the dual bound read from HiGHS (``None`` if it has none); at
    a proven optimum without one it is the objective itself.
    """

    ms = highspy.HighsModelStatus
    if model_status == ms.kOptimal:
        status = "optimal"
        bound = objective if bound is None else bound
    elif model_status == ms.kInfeasible:
        status = "infeasible"
    elif model_status in (ms.kUnbounded, ms.kUnboundedOrInfeasible):
        status = "unbounded" if model_status == ms.kUnbounded else "infeasible"
    elif model_status in (
        ms.kTimeLimit,
        ms.kIterationLimit,
        ms.kInterrupt,
        ms.kSolutionLimit,
        ms.kObjectiveBound,
        ms.kObjectiveTarget,
        getattr(ms, "kHighsInterrupt", ms.kInterrupt),
    ):
        # Stopped early (time, node or solution limit): a plan, if any, is not proven optimal.
        status = "feasible" if has_primal else "no_solution"
    else:  # load/model/presolve/solve errors, kMemoryLimit, kUnknown
        status = "error"
    gap = None
    if status == "optimal":
        gap = relative_gap(objective, bound)
        gap = 0.0 if gap is None else gap
    elif status == "feasible":
        gap = relative_gap(objective, bound)
    return status, bound, gap


def _solve_highs(problem: pulp.LpProblem, options: SolverOptions) -> SolveReport:
    # highspy is a hard dependency, imported at the top: without it this module does not load.
    params = {}
    if options.threads is not None:
        params["threads"] = int(options.threads)
    solver = _InterruptibleHiGHS(
        msg=options.msg,
        timeLimit=options.time_limit,
        gapRel=options.mip_gap,
        gapAbs=0.0 if options.mip_gap == 0 else None,
        **params,
    )
    if not options.msg:
        _silence_highs_banner()
    version = solver_versions_cached("highs")
    start = time.perf_counter()
    try:
        problem.solve(solver)
    except pulp.PulpSolverError as exc:
        return SolveReport("error", None, None, None, time.perf_counter() - start, "highs", version, str(exc))
    except KeyError:
        # PuLP's HiGHS interface has no entry for some HiGHS statuses
        # (kSolutionLimit, kMemoryLimit, kHighsInterrupt) and raises KeyError
        # *after* copying the solution into the variables; the status is read
        # from HiGHS itself below.
        if getattr(problem, "solverModel", None) is None:
            raise
    except (IndexError, ValueError, OverflowError, RuntimeError) as exc:
        # HiGHS refused the model (e.g. a coefficient it treats as infinite)
        # and PuLP failed reading the missing solution: report, don't crash.
        h = getattr(problem, "solverModel", None)
        why = h.modelStatusToString(h.getModelStatus()) if h is not None else f"{type(exc).__name__}: {exc}"
        return SolveReport("error", None, None, None, time.perf_counter() - start, "highs", version, why)
    seconds = time.perf_counter() - start
    h = problem.solverModel
    model_status = h.getModelStatus()
    info = h.getInfo()
    ms = highspy.HighsModelStatus
    has_primal = info.primal_solution_status == 2  # kSolutionStatusFeasible
    # Read the plan's value through PuLP (it includes any objective constant);
    # HiGHS' dual bound is in HiGHS' own sense, which PuLP flips for
    # maximisation problems (see pulp.apis.highs_api.buildSolverModel).
    objective = pulp.value(problem.objective) if has_primal and problem.objective is not None else None
    if has_primal and objective is None:
        objective = 0.0
    # HiGHS' bound includes the objective constant, its offset (see callSolver).
    flip = -1.0 if h.getLp().sense_ == highspy.ObjSense.kMinimize and problem.sense == pulp.LpMaximize else 1.0
    bound = None
    if _is_mip(problem):
        if math.isfinite(info.mip_dual_bound):
            bound = flip * info.mip_dual_bound
    elif model_status == ms.kOptimal:
        bound = objective
    status, bound, gap = highs_outcome(model_status, has_primal, objective, bound)
    message = h.modelStatusToString(model_status)
    # HiGHS' own gap, which with the constant as its offset is ``gap``.
    extra = {"solver_gap": info.mip_gap if math.isfinite(info.mip_gap) else None} if _is_mip(problem) else {}
    return SolveReport(status, objective, bound, gap, seconds, "highs", version, message, extra)
