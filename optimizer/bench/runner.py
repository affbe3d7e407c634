"""``regionopt bench``: solve published benchmark instances and compare with their optima.

Commands
--------
``regionopt bench orlib-pmed FILE...``                 OR-Library p-median (pmed1–40)
``regionopt bench orlib-cap FILE... [--capacity N]...`` OR-Library capacitated / ``--uncapacitated``
``regionopt bench sjc FILE --p P --radius R``           São José dos Campos MCLP

Each takes ``--solver highs|cbc``, ``--time-limit S``, ``--optima CSV`` (a table
of known optima, see :func:`optimizer.orlib.read_optima`) and ``--json`` (one
JSON object per line instead of a table). The exit code is 1 when a solved
objective differs from a known optimum, 0 otherwise.

Python API: :func:`run_pmed`, :func:`run_cap`, :func:`run_sjc` return one
result dict per instance with the keys

``instance``     file stem (``pmed1``, ``capa``…)
``objective``    value of the plan found (``None`` without a plan)
``optimum``      known optimum from ``optima`` (``None`` when unknown)
``match``        ``|objective - optimum| <= tolerance`` (``None`` when unknown)
``status``       ``optimal`` / ``feasible`` / … (see :mod:`optimizer.solvers`)
``gap``          relative MIP gap proven
``seconds``      wall time: read file + build model + solve
``build_seconds``, ``solve_seconds``
``peak_mb``      peak resident memory (RSS, MiB) of the whole process while
                 reading, building and solving the instance — numpy, PuLP and
                 the solver's native memory alike — sampled every 10 ms with
                 psutil (without psutil: the process's lifetime peak,
                 ``ru_maxrss``). ``rss_start_mb`` is the RSS when the instance
                 started, so ``peak_mb - rss_start_mb`` is what it added
                 (a lower bound: memory freed earlier is reused).

This module keeps its top-level imports light: the CLI imports it at start-up.
"""

from __future__ import annotations

import math
import os
import resource
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from .._optional import optional_import
from ..errors import ConfigError, InfeasibleError, InputError
from ..impedance.straight_line import coverage_matrix
from ..locate.base import LocateModel
from ..locate.cflp import CFLP
from ..locate.coverage import MCLP
from ..locate.p_median import PMedian
from .orlib import PathType, lookup_optimum, read_cap, read_optima, read_pmed, read_sjc

if TYPE_CHECKING:
    import pandas as pd
    import psutil

# Published OR-Library values have 3 decimals; pmed optima are integers.
CAP_TOLERANCE = 1e-3
PMED_TOLERANCE = 1e-6


class PeakMemory:
    """Context manager measuring the peak resident memory (MiB) of this process while it is open.

    With psutil a thread samples RSS every ``interval`` seconds; without it,
    ``resource.getrusage(...).ru_maxrss`` (the process's lifetime peak) is used.
    ``peak_mb`` is the peak, ``start_mb`` the RSS on entry.
    """

    _proc: psutil.Process | None  # None without psutil
    _thread: threading.Thread
    _start: int  # bytes
    _peak: int  # bytes

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak_mb: float = 0.0
        self.start_mb: float = 0.0
        self._stop = threading.Event()

    def __enter__(self) -> Self:
        try:
            psutil_module = optional_import("psutil", purpose="sampling peak memory in regionopt bench")
        except (ConfigError, ImportError):  # without psutil: the lifetime peak from getrusage
            psutil_module = None
        if psutil_module is not None:
            self._proc = psutil_module.Process()
            self._start = self._proc.memory_info().rss
            self._peak = self._start
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        else:
            self._proc = None
            self._start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return self

    def _sample(self) -> None:
        proc = self._proc
        assert proc is not None, "sampling runs only with psutil"
        while not self._stop.is_set():
            try:
                rss = proc.memory_info().rss
            except Exception:  # noqa: BLE001  # pragma: no cover - process vanished, stop sampling
                return
            self._peak = max(self._peak, rss)
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, self._proc.memory_info().rss)
            self.peak_mb = self._peak / 2**20
            self.start_mb = self._start / 2**20
        else:
            self.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**20
            self.start_mb = self._start / 2**20


def _result(
    instance: str,
    model: LocateModel | None,
    optimum: float | None,
    tol: float,
    t_read: float,
    t_build: float,
    peak: PeakMemory,
    **extra: Any,
) -> dict[str, Any]:
    rep = model.report if model is not None else None
    objective = model.objective if model is not None else None
    match = None if optimum is None or objective is None else abs(objective - optimum) <= tol
    out = {
        "instance": instance,
        "objective": objective,
        "optimum": optimum,
        "match": match,
        "status": model.status if model is not None else "infeasible",
        "gap": rep.gap if rep else None,
        "seconds": round(t_read + t_build + (rep.seconds if rep else 0.0), 4),
        "build_seconds": round(t_read + t_build, 4),
        "solve_seconds": round(rep.seconds, 4) if rep else None,
        "peak_mb": round(peak.peak_mb, 1),
        "rss_start_mb": round(peak.start_mb, 1),
        "solver": rep.solver if rep else None,
    }
    out.update(extra)
    return out


def _optima(optima: pd.DataFrame | PathType | None) -> pd.DataFrame | None:
    if optima is None:
        return None

    return optima if not isinstance(optima, (str, os.PathLike)) else read_optima(optima)


def run_pmed(
    path: PathType,
    *,
    solver: str = "highs",
    time_limit: float | None = None,
    optima: pd.DataFrame | PathType | None = None,
    reduce: bool = True,
) -> dict[str, Any]:
    """Solve one OR-Library p-median file; ``optima`` is a CSV path or a :func:`read_optima` frame."""

    table = _optima(optima)
    name = Path(path).stem
    with PeakMemory() as peak:
        t0 = time.perf_counter()
        n, p, dist = read_pmed(path)
        t1 = time.perf_counter()
        model = PMedian.from_cost_matrix(dist, np.ones(n), p, name=name, reduce=reduce)
        t2 = time.perf_counter()
        model.solve(solver, time_limit=time_limit)
    optimum = lookup_optimum(table, name) if table is not None else None
    return _result(
        name,
        model,
        optimum,
        PMED_TOLERANCE,
        t1 - t0,
        t2 - t1,
        peak,
        n=n,
        p=p,
        heuristic=model.stats.get("heuristic_objective"),
        lagrangian_bound=model.stats.get("lagrangian_bound"),
    )


def run_cap(
    path: PathType,
    *,
    capacity: float | None = None,
    uncapacitated: bool = False,
    solver: str = "highs",
    time_limit: float | None = None,
    optima: pd.DataFrame | PathType | None = None,
) -> dict[str, Any]:
    """Solve one OR-Library warehouse file, capacitated (multi-source) or with ``uncapacitated=True``."""

    table = _optima(optima)
    name = Path(path).stem
    with PeakMemory() as peak:
        t0 = time.perf_counter()
        inst = read_cap(path, capacity=math.inf if uncapacitated else capacity)
        t1 = time.perf_counter()
        model: CFLP | None
        note: str | None
        try:
            model = CFLP.from_cost_matrix(
                inst.costs,
                inst.demand,
                inst.capacities,
                inst.fixed_costs,
                name=name,
                uncapacitated=uncapacitated,
                cost_kind="total",
            )
        except InfeasibleError as exc:
            # Proven before solving (e.g. total capacity below total demand): a result, not an error.
            model, note = None, str(exc)
        else:
            note = None
        t2 = time.perf_counter()
        if model is not None:
            model.solve(solver, time_limit=time_limit)
    kind = "uncapacitated" if uncapacitated else "capacitated"
    # The capacity identifies the variant only where the file left it open.
    variant = None if uncapacitated or not inst.capacity_word else capacity
    optimum = lookup_optimum(table, name, problem=kind, capacity=variant) if table is not None else None
    label = name if variant is None else f"{name}({variant:g})"
    extra = {"note": note} if note else {}
    return _result(
        label,
        model,
        optimum,
        CAP_TOLERANCE,
        t1 - t0,
        t2 - t1,
        peak,
        problem=kind,
        capacity=variant,
        m=inst.m,
        n=inst.n,
        **extra,
    )


def run_sjc(
    path: PathType,
    *,
    p: int,
    radius: float,
    solver: str = "highs",
    time_limit: float | None = None,
    optima: pd.DataFrame | PathType | None = None,
) -> dict[str, Any]:
    """Solve one SJC MCLP file: every node a demand point and a candidate site, Euclidean metres."""

    if not (math.isfinite(radius) and radius >= 0):
        raise ConfigError(
            f"the coverage radius must be a finite number of metres, 0 or more, got {radius!r}",
            field="--radius",
            hint="e.g. --radius 800",
        )
    table = _optima(optima)
    name = Path(path).stem
    with PeakMemory() as peak:
        t0 = time.perf_counter()
        xy, demand = read_sjc(path)
        if not 1 <= p <= len(demand):
            raise ConfigError(
                f"the number of facilities must be in 1..{len(demand)} (the nodes of the file), got {p}",
                file=path,
                field="--p",
                hint="give how many facilities to open, at most one per node",
            )
        t1 = time.perf_counter()
        cov = coverage_matrix(xy, xy, radius)
        model = MCLP.from_cost_matrix(cov, demand, radius, p, name=name)
        t2 = time.perf_counter()
        model.solve(solver, time_limit=time_limit)
    optimum = lookup_optimum(table, name, p=p, radius=radius) if table is not None else None
    # One file serves many (p, S) tests: the label names the variant.
    return _result(
        f"{name}(p={p},S={radius:g})", model, optimum, PMED_TOLERANCE, t1 - t0, t2 - t1, peak, p=p, radius=radius
    )


# --------------------------------------------------------------------------- CLI


def _check_options(
    files: Iterable[PathType] = (), *, time_limit: float | None = None, capacities: Iterable[float] = ()
) -> None:
    """Refuse a missing file or a bad option before anything is read or solved.

    Files are checked here rather than by click, so that a missing file gets
    the same ``error: <file>: file not found`` line as every other input.
    """

    if time_limit is not None and not time_limit > 0:
        raise ConfigError(
            f"time limit must be a positive number of seconds, got {time_limit!r}",
            field="--time-limit",
            hint="e.g. --time-limit 60, or leave it out for no limit",
        )
    for cap in capacities:
        if not cap >= 0:
            raise ConfigError(
                f"capacity must be a number, 0 or more, got {cap!r}",
                field="--capacity",
                hint="the capacity of every warehouse of a file whose capacities are the word "
                "'capacity' (capa, capb, capc), e.g. --capacity 8000",
            )
    for f in files:
        if not Path(f).exists():
            raise InputError("file not found", file=f, hint="check the path")
