"""Solve a PuLP model with HiGHS or CBC and report the outcome honestly.

PuLP's own status codes blur the line between "proven optimal" and "stopped
with a solution": a CBC run that hits its time limit comes back as
``LpStatusOptimal``. :func:`solve_problem` looks past that, reads the solver's
own status and best bound, and returns a :class:`SolveReport` whose
``status`` is one of

``optimal``      proven optimal within the requested MIP gap;
``feasible``     a plan exists but optimality is not proven (time limit) —
                 ``gap`` says how far from proven it is;
``infeasible``   no plan satisfies the constraints;
``unbounded``    the objective is unbounded (a modelling error);
``no_solution``  the solver stopped before finding any plan;
``error``        the solver failed.
"""

from __future__ import annotations

import math
import os
import re
import signal
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import pulp

from .errors import SolverError, SolverNotAvailableError

__all__ = ["SolverOptions", "SolveReport", "solve_problem", "solver_versions", "relative_gap", "check_solver_available"]

SolverName = Literal["highs", "cbc"]
STATUSES = ("optimal", "feasible", "infeasible", "unbounded", "no_solution", "error")


@dataclass(frozen=True)
class SolverOptions:
    """How to solve.

    Parameters
    ----------
    name
        ``"highs"`` (HiGHS through highspy, the default) or ``"cbc"`` (the CBC
        binary bundled with PuLP).
    time_limit
        Seconds of wall time; ``None`` for no limit.
    mip_gap
        Relative MIP gap at which the solver may stop and call the plan
        optimal. ``0`` demands a proof of exact optimality.
    threads
        Solver threads; ``None`` lets the solver choose.
    msg
        Echo the solver log to the terminal.
    """

    name: SolverName = "highs"
    time_limit: float | None = None
    mip_gap: float = 0.0
    threads: int | None = None
    msg: bool = False

    def __post_init__(self) -> None:
        if self.name not in ("highs", "cbc"):
            raise SolverNotAvailableError(
                f"unknown solver {self.name!r}",
                field="solver.name",
                hint="use 'highs' (default) or 'cbc'.",
            )
        if self.time_limit is not None and not self.time_limit > 0:
            raise SolverError(f"time limit must be positive, got {self.time_limit!r}", field="solver.time_limit",
                              hint="give a positive number of seconds, or None for no limit")
        if not 0 <= self.mip_gap < 1:
            raise SolverError(f"MIP gap must be in [0, 1), got {self.mip_gap!r}", field="solver.mip_gap",
                              hint="give a relative gap such as 0.01 (1 %), or 0 for a proof of optimality")


@dataclass
class SolveReport:
    """What the solver proved about a model.

    ``objective`` is the value of the plan found (``None`` without a plan),
    ``bound`` the best proven bound on the optimum, ``gap`` the relative
    distance between them (``0`` when optimal, ``None`` when unknown).
    """

    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    solver: str
    solver_version: str
    message: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def is_optimal(self) -> bool:
        return self.status == "optimal"

    @property
    def has_solution(self) -> bool:
        return self.status in ("optimal", "feasible")

    def to_dict(self) -> dict:
        return asdict(self)


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """``|objective - bound| / max(|objective|, 1)``, HiGHS' convention."""
    if objective is None or bound is None or not math.isfinite(objective) or not math.isfinite(bound):
        return None
    return abs(objective - bound) / max(abs(objective), 1.0)


def solver_versions() -> dict[str, str]:
    """Versions of PuLP and the solvers it can reach, for manifests."""
    versions = {"pulp": pulp.__version__}
    try:
        import highspy

        _silence_highs_banner()
        h = highspy.Highs()
        versions["highs"] = f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"
    except Exception:  # pragma: no cover - highspy is a hard dependency
        versions["highs"] = "not installed"
    versions["cbc"] = _cbc_version()
    return versions


def _cbc_command(**options) -> "pulp.COIN_CMD | None":
    """PuLP's bundled CBC binary, else a ``cbc`` on the PATH (e.g. from
    ``apt-get install coinor-cbc``); ``None`` when neither can be executed."""
    # PULP_CBC_CMD is deprecated (gone in PuLP 4, where COIN_CMD finds the CBC of 'pulp[cbc]')
    for cls in filter(None, (getattr(pulp, "PULP_CBC_CMD", None), pulp.COIN_CMD)):
        try:
            solver = cls(**options)
        except pulp.PulpSolverError:
            continue
        if solver.available():
            return solver
    return None


CBC_MISSING_HINT = (
    "install CBC (pip install 'pulp[cbc]', or apt-get install coinor-cbc, or conda install -c conda-forge "
    "coin-or-cbc; then check that 'cbc' runs) or use solver.name: highs"
)


def check_solver_available(name: str) -> None:
    """Raise :class:`SolverNotAvailableError` (with how to install it) if solver ``name`` cannot run here.

    The command line calls this before loading data, so a missing solver is
    reported at once rather than after the model is built. There is no
    silent fallback to the other solver: results and run times differ, and the
    scenario asked for this one.
    """
    if name == "cbc" and _cbc_command(msg=False) is None:
        raise SolverNotAvailableError(
            "CBC is not available: PuLP's bundled CBC binary cannot be executed on this machine "
            "and there is no 'cbc' on the PATH",
            field="solver.name",
            hint=CBC_MISSING_HINT,
        )
    if name == "highs":
        try:
            import highspy  # noqa: F401
        except ImportError:  # pragma: no cover - highspy is a hard dependency
            raise SolverNotAvailableError(
                "HiGHS (highspy) is not installed", field="solver.name", hint="pip install highspy, or set solver.name: cbc"
            ) from None


def _cbc_version() -> str:
    cbc = _cbc_command(msg=False)
    if cbc is None:
        return "not installed"
    # PuLP ships CBC but does not expose its version; the binary prints it.
    import subprocess

    try:
        out = subprocess.run([cbc.path, "-quit"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    match = re.search(r"Version:\s*(\S+)", out.stdout)
    return match.group(1) if match else "unknown"


_BANNER_SILENCED = False


def _silence_highs_banner() -> None:
    """HiGHS prints a copyright banner when the first ``Highs`` object of a
    process is created, before any option can turn output off; create that
    first object with stdout pointed at /dev/null."""
    global _BANNER_SILENCED
    if _BANNER_SILENCED:
        return
    import sys

    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    _BANNER_SILENCED = True


def solve_problem(problem: pulp.LpProblem, options: SolverOptions | None = None) -> SolveReport:
    """Solve ``problem`` in place and report what was proven.

    Variable values are set on the problem's variables as usual in PuLP.

    Raises
    ------
    SolverNotAvailableError
        If the requested solver is not installed.
    """
    options = options or SolverOptions()
    if options.name == "highs":
        return _solve_highs(problem, options)
    return _solve_cbc(problem, options)


def _is_mip(problem: pulp.LpProblem) -> bool:
    return any(v.cat == pulp.LpInteger for v in problem.variables())


def new_highs(msg: bool = False):
    """A ``highspy.Highs`` whose process-wide copyright banner does not reach stdout.

    The first ``Highs`` object of a process prints a banner on C stdout before
    any option can turn output off; it would corrupt e.g. JSON lines on
    stdout. Unless the caller wants solver output (``msg``), that first object
    is created with stdout pointed at /dev/null.
    """
    import highspy

    if not msg:
        _silence_highs_banner()
    return highspy.Highs()


def run_highs_interruptibly(h) -> None:
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

    def callSolver(self, lp):
        run_highs_interruptibly(lp.solverModel)


def highs_outcome(model_status, has_primal: bool, objective: float | None,
                  bound: float | None) -> tuple[str, float | None, float | None]:
    """What a HiGHS stop proved: ``(status, bound, gap)`` in :class:`SolveReport`'s terms.

    ``bound`` is the dual bound read from HiGHS (``None`` if it has none); at
    a proven optimum without one it is the objective itself.
    """
    import highspy

    ms = highspy.HighsModelStatus
    if model_status == ms.kOptimal:
        status = "optimal"
        bound = objective if bound is None else bound
    elif model_status == ms.kInfeasible:
        status = "infeasible"
    elif model_status in (ms.kUnbounded, ms.kUnboundedOrInfeasible):
        status = "unbounded" if model_status == ms.kUnbounded else "infeasible"
    elif model_status in (ms.kTimeLimit, ms.kIterationLimit, ms.kInterrupt, ms.kSolutionLimit, ms.kObjectiveBound,
                          ms.kObjectiveTarget, getattr(ms, "kHighsInterrupt", ms.kInterrupt)):
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
    try:
        import highspy
    except ImportError as exc:  # pragma: no cover - highspy is a hard dependency
        raise SolverNotAvailableError(
            "HiGHS (highspy) is not installed", hint="pip install highspy, or set solver.name: cbc"
        ) from exc
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
    constant = problem.objective.constant if problem.objective is not None else 0.0
    flip = -1.0 if h.getLp().sense_ == highspy.ObjSense.kMinimize and problem.sense == pulp.LpMaximize else 1.0
    bound = None
    if _is_mip(problem):
        if math.isfinite(info.mip_dual_bound):
            bound = flip * info.mip_dual_bound + constant
    elif model_status == ms.kOptimal:
        bound = objective
    status, bound, gap = highs_outcome(model_status, has_primal, objective, bound)
    message = h.modelStatusToString(model_status)
    # HiGHS' own gap ignores objective constants (e.g. people already covered
    # by existing facilities), so it can be larger than ``gap``; keep both.
    extra = {"solver_gap": info.mip_gap if math.isfinite(info.mip_gap) else None} if _is_mip(problem) else {}
    return SolveReport(status, objective, bound, gap, seconds, "highs", version, message, extra)


_VERSION_CACHE: dict[str, str] = {}


def solver_versions_cached(name: str) -> str:
    if name not in _VERSION_CACHE:
        _VERSION_CACHE.update(solver_versions())
    return _VERSION_CACHE.get(name, "unknown")


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
    objective = pulp.value(problem.objective) if problem.sol_status in (
        pulp.LpSolutionOptimal,
        pulp.LpSolutionIntegerFeasible,
    ) else None
    if objective is not None and problem.objective is not None and not problem.objective:
        objective = 0.0
    # CBC prints "Lower bound" when minimising, "Upper bound" when maximising,
    # both in the problem's own sense.
    bound_match = _CBC_BOUND.findall(log)
    try:
        bound = float(bound_match[-1]) if bound_match else None
    except ValueError:
        bound = None
    if problem.status == pulp.LpStatusInfeasible:
        status = "infeasible"
    elif problem.status == pulp.LpStatusUnbounded:
        status = "unbounded"
    elif problem.sol_status == pulp.LpSolutionOptimal and result_line.startswith("Optimal"):
        status = "optimal"
    elif problem.sol_status == pulp.LpSolutionOptimal and not result_line:
        # Pure LPs print no "Result -" line; the solution file says optimal.
        status = "optimal"
    elif problem.sol_status in (pulp.LpSolutionIntegerFeasible, pulp.LpSolutionOptimal):
        status = "feasible"
    elif "Stopped" in result_line or problem.status == pulp.LpStatusNotSolved:
        status = "no_solution"
    else:
        status = "error"
    if status == "optimal":
        gap = relative_gap(objective, bound) if bound is not None else 0.0
        if gap is not None and gap > max(options.mip_gap, 1e-9) + 1e-9:
            # A bound we misparsed must not turn a proof into a doubt.
            gap = 0.0 if options.mip_gap == 0 else gap
        bound = objective if bound is None else bound
    elif status == "feasible":
        gap = relative_gap(objective, bound)
    else:
        gap = None
    return SolveReport(status, objective, bound, gap, seconds, "cbc", version, result_line or pulp.LpStatus[problem.status])
