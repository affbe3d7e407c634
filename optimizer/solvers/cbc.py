"""CBC through PuLP, stoppable, with its bound and gap read back."""

from __future__ import annotations

import os
import re
import signal
import tempfile
import time

import pulp

from .options import SolveReport, SolverOptions, relative_gap
from .versions import _cbc_command, check_solver_available, solver_versions_cached

_CBC_RESULT = re.compile(r"Result - (.+)")
_CBC_OBJECTIVE = re.compile(r"Objective value:\s+(\S+)")
_CBC_BOUND = re.compile(r"(?:Lower|Upper) bound:\s+(\S+)")
_CBC_GAP = re.compile(r"Gap:\s+(\S+)")


def _stop_child_cbc() -> None:
    """Terminate CBC processes started by this process.

    PuLP runs CBC as a subprocess and waits for it; when that wait is
    interrupted (SIGTERM sent to regionopt alone), PuLP leaves CBC running
    until its time limit. Children are found through /proc (Linux); elsewhere
    this does nothing.
    """
    proc = "/proc"
    if not os.path.isdir(proc):  # pragma: no cover - not Linux
        return
    me = os.getpid()
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc}/{entry}/stat", encoding="utf-8", errors="replace") as fh:
                stat = fh.read()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 1 :].split()[1])
            if ppid == me and name.lower().startswith("cbc"):
                os.kill(int(entry), signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            continue


def _solve_cbc(problem: pulp.LpProblem, options: SolverOptions) -> SolveReport:
    check_solver_available("cbc")
    version = solver_versions_cached("cbc")
    fd, log_path = tempfile.mkstemp(prefix="regionopt-cbc-", suffix=".log")
    os.close(fd)
    solver = _cbc_command(
        msg=False,
        timeLimit=options.time_limit,
        gapRel=options.mip_gap,
        gapAbs=0.0 if options.mip_gap == 0 else None,
        threads=options.threads,
        logPath=log_path,
        timeMode="elapsed",
    )
    start = time.perf_counter()
    try:
        problem.solve(solver)
    except pulp.PulpSolverError as exc:
        os.unlink(log_path)
        return SolveReport("error", None, None, None, time.perf_counter() - start, "cbc", version, str(exc))
    except BaseException:  # Ctrl-C / SIGTERM while PuLP waits for CBC: stop CBC too
        _stop_child_cbc()
        if os.path.exists(log_path):
            os.unlink(log_path)
        raise
    seconds = time.perf_counter() - start
    with open(log_path, encoding="utf-8", errors="replace") as fh:
        log = fh.read()
    os.unlink(log_path)
    if options.msg:
        print(log)
    result_line = (_CBC_RESULT.findall(log) or [""])[-1].strip()
    objective = (
        pulp.value(problem.objective)
        if problem.sol_status
        in (
            pulp.LpSolutionOptimal,
            pulp.LpSolutionIntegerFeasible,
        )
        else None
    )
    if objective is not None and problem.objective is not None and not problem.objective:
        objective = 0.0
    # CBC prints "Lower bound" when minimising, "Upper bound" when maximising,
    # both in the problem's own sense.
    bound_match = _CBC_BOUND.findall(log)
    try:
        bound = float(bound_match[-1]) if bound_match else None
    except ValueError:
        bound = None
    status = _cbc_status(problem, result_line)
    bound, gap = _cbc_bound_and_gap(status, objective, bound, options.mip_gap)
    return SolveReport(
        status, objective, bound, gap, seconds, "cbc", version, result_line or pulp.LpStatus[problem.status]
    )


def _cbc_status(problem: pulp.LpProblem, result_line: str) -> str:
    """The :class:`SolveReport` status of a CBC run, from PuLP's statuses and CBC's ``Result -`` line."""
    if problem.status == pulp.LpStatusInfeasible:
        return "infeasible"
    if problem.status == pulp.LpStatusUnbounded:
        return "unbounded"
    if problem.sol_status == pulp.LpSolutionOptimal and result_line.startswith("Optimal"):
        return "optimal"
    if problem.sol_status == pulp.LpSolutionOptimal and not result_line:
        # Pure LPs print no "Result -" line; the solution file says optimal.
        return "optimal"
    if problem.sol_status in (pulp.LpSolutionIntegerFeasible, pulp.LpSolutionOptimal):
        return "feasible"
    if "Stopped" in result_line or problem.status == pulp.LpStatusNotSolved:
        return "no_solution"
    return "error"


def _cbc_bound_and_gap(
    status: str, objective: float | None, bound: float | None, mip_gap: float
) -> tuple[float | None, float | None]:
    """``(bound, gap)`` to report for a CBC run of ``status``, from its plan's value and the bound in its log."""
    if status == "optimal":
        gap = relative_gap(objective, bound) if bound is not None else 0.0
        if gap is not None and gap > max(mip_gap, 1e-9) + 1e-9:
            # A bound we misparsed must not turn a proof into a doubt.
            gap = 0.0 if mip_gap == 0 else gap
        bound = objective if bound is None else bound
    elif status == "feasible":
        gap = relative_gap(objective, bound)
    else:
        gap = None
    return bound, gap
