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

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import click

__all__ = ["PeakMemory", "bench", "run_cap", "run_pmed", "run_sjc"]

# Published OR-Library values have 3 decimals; pmed optima are integers.
CAP_TOLERANCE = 1e-3
PMED_TOLERANCE = 1e-6


class PeakMemory:
    """Context manager measuring the peak resident memory (MiB) of this process while it is open.

    With psutil a thread samples RSS every ``interval`` seconds; without it,
    ``resource.getrusage(...).ru_maxrss`` (the process's lifetime peak) is used.
    ``peak_mb`` is the peak, ``start_mb`` the RSS on entry.
    """

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self.peak_mb: float = 0.0
        self.start_mb: float = 0.0
        self._stop = threading.Event()

    def __enter__(self):
        try:
            import psutil

            self._proc = psutil.Process()
            self._start = self._proc.memory_info().rss
            self._peak = self._start
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        except ImportError:
            import resource

            self._proc = None
            self._start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self._proc.memory_info().rss
            except Exception:  # noqa: BLE001  # pragma: no cover - process vanished, stop sampling
                return
            self._peak = max(self._peak, rss)
            self._stop.wait(self.interval)

    def __exit__(self, *exc) -> None:
        if self._proc is not None:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, self._proc.memory_info().rss)
            self.peak_mb = self._peak / 2**20
            self.start_mb = self._start / 2**20
        else:
            import resource

            self.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**20
            self.start_mb = self._start / 2**20


def _result(instance: str, model, optimum: float | None, tol: float, t_read: float, t_build: float,
            peak: PeakMemory, **extra: Any) -> dict[str, Any]:
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


def _optima(optima):
    if optima is None:
        return None
    from .orlib import read_optima

    return optima if not isinstance(optima, (str, os.PathLike)) else read_optima(optima)


def run_pmed(path, *, solver: str = "highs", time_limit: float | None = None, optima=None,
             reduce: bool = True) -> dict[str, Any]:
    """Solve one OR-Library p-median file; ``optima`` is a CSV path or a :func:`read_optima` frame."""
    import numpy as np

    from .locate import PMedian
    from .orlib import lookup_optimum, read_pmed

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
    return _result(name, model, optimum, PMED_TOLERANCE, t1 - t0, t2 - t1, peak, n=n, p=p,
                   heuristic=model.stats.get("heuristic_objective"),
                   lagrangian_bound=model.stats.get("lagrangian_bound"))


def run_cap(path, *, capacity: float | None = None, uncapacitated: bool = False, solver: str = "highs",
            time_limit: float | None = None, optima=None) -> dict[str, Any]:
    """Solve one OR-Library warehouse file, capacitated (multi-source) or with ``uncapacitated=True``."""
    from .errors import InfeasibleError
    from .locate import CFLP
    from .orlib import lookup_optimum, read_cap

    table = _optima(optima)
    name = Path(path).stem
    with PeakMemory() as peak:
        t0 = time.perf_counter()
        inst = read_cap(path, capacity=math.inf if uncapacitated else capacity)
        t1 = time.perf_counter()
        try:
            model = CFLP.from_cost_matrix(inst.costs, inst.demand, inst.capacities, inst.fixed_costs, name=name,
                                          uncapacitated=uncapacitated, cost_kind="total")
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
    return _result(label, model, optimum, CAP_TOLERANCE, t1 - t0, t2 - t1, peak, problem=kind, capacity=variant,
                   m=inst.m, n=inst.n, **extra)


def run_sjc(path, *, p: int, radius: float, solver: str = "highs", time_limit: float | None = None,
            optima=None) -> dict[str, Any]:
    """Solve one SJC MCLP file: every node a demand point and a candidate site, Euclidean metres."""
    from .distance import coverage_matrix
    from .errors import ConfigError
    from .locate import MCLP
    from .orlib import lookup_optimum, read_sjc

    if not (math.isfinite(radius) and radius >= 0):
        raise ConfigError(f"the coverage radius must be a finite number of metres, 0 or more, got {radius!r}",
                          field="--radius", hint="e.g. --radius 800")
    table = _optima(optima)
    name = Path(path).stem
    with PeakMemory() as peak:
        t0 = time.perf_counter()
        xy, demand = read_sjc(path)
        if not 1 <= p <= len(demand):
            raise ConfigError(f"the number of facilities must be in 1..{len(demand)} (the nodes of the file), got {p}",
                              file=path, field="--p", hint="give how many facilities to open, at most one per node")
        t1 = time.perf_counter()
        cov = coverage_matrix(xy, xy, radius)
        model = MCLP.from_cost_matrix(cov, demand, radius, p, name=name)
        t2 = time.perf_counter()
        model.solve(solver, time_limit=time_limit)
    optimum = lookup_optimum(table, name, p=p, radius=radius) if table is not None else None
    # One file serves many (p, S) tests: the label names the variant.
    return _result(f"{name}(p={p},S={radius:g})", model, optimum, PMED_TOLERANCE, t1 - t0, t2 - t1, peak, p=p,
                   radius=radius)


# --------------------------------------------------------------------------- CLI

_COLUMNS = ("instance", "objective", "optimum", "status", "gap", "seconds", "peak_mb")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{value:.0f}" if abs(value) >= 1e4 or value == 0 else f"{value:g}"
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.3f}"
    return str(value)


class _Printer:
    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.rows: list[dict] = []
        self.header_done = False

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if self.as_json:
            click.echo(json.dumps(row, default=float))
            return
        widths = (22, 16, 16, 11, 10, 9, 9)
        if not self.header_done:
            click.echo("  ".join(c.ljust(w) for c, w in zip(_COLUMNS, widths)).rstrip())
            self.header_done = True
        cells = [_fmt(row.get(c)) for c in _COLUMNS]
        mark = {True: "", False: "  MISMATCH", None: ""}[row.get("match")]
        click.echo("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip() + mark)

    def finish(self) -> None:
        if not self.as_json and self.rows:
            total = sum(r["seconds"] for r in self.rows)
            known = [r for r in self.rows if r.get("match") is not None]
            ok = sum(1 for r in known if r["match"])
            click.echo(f"{len(self.rows)} instance(s), {total:.1f} s in total; "
                       f"{ok}/{len(known)} equal to the known optimum")
        if any(r.get("match") is False for r in self.rows):
            raise SystemExit(1)


def _check_options(files=(), *, time_limit: float | None = None, capacities=()) -> None:
    """Refuse a missing file or a bad option before anything is read or solved.

    Files are checked here rather than by click, so that a missing file gets
    the same ``error: <file>: file not found`` line as every other input.
    """
    from .errors import ConfigError, InputError

    if time_limit is not None and not time_limit > 0:
        raise ConfigError(f"time limit must be a positive number of seconds, got {time_limit!r}", field="--time-limit",
                          hint="e.g. --time-limit 60, or leave it out for no limit")
    for cap in capacities:
        if not cap >= 0:
            raise ConfigError(f"capacity must be a number, 0 or more, got {cap!r}", field="--capacity",
                              hint="the capacity of every warehouse of a file whose capacities are the word "
                              "'capacity' (capa, capb, capc), e.g. --capacity 8000")
    for f in files:
        if not Path(f).exists():
            raise InputError("file not found", file=f, hint="check the path")


def _common(func):
    func = click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of a table.")(func)
    func = click.option("--optima", type=click.Path(dir_okay=False),
                        help="CSV of known optima (columns instance, optimal, …).")(func)
    func = click.option("--time-limit", type=float, default=None, help="Solver time limit per instance (s).")(func)
    func = click.option("--solver", type=click.Choice(["highs", "cbc"]), default="highs", show_default=True)(func)
    return func


@click.group("bench")
def bench() -> None:
    """Solve published facility-location benchmarks and compare with their optima."""


@bench.command("orlib-pmed")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_common
def orlib_pmed(files, solver, time_limit, optima, as_json) -> None:
    """OR-Library p-median files (pmed1.txt …)."""
    _check_options(files, time_limit=time_limit)
    table = _optima(optima)
    out = _Printer(as_json)
    for f in files:
        out.add(run_pmed(f, solver=solver, time_limit=time_limit, optima=table))
    out.finish()


@bench.command("orlib-cap")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--capacity", type=float, multiple=True,
              help="Capacity for files whose capacity field is the word 'capacity' (capa/b/c); repeat for variants.")
@click.option("--uncapacitated", is_flag=True, help="Solve the UFLP (capacities ignored).")
@_common
def orlib_cap(files, capacity, uncapacitated, solver, time_limit, optima, as_json) -> None:
    """OR-Library warehouse-location files (cap41.txt …, capa.txt …), multi-source."""
    from .orlib import read_cap

    _check_options(files, time_limit=time_limit, capacities=capacity)
    table = _optima(optima)
    out = _Printer(as_json)
    for f in files:
        variants: list[float | None] = [None]
        # Only files with the literal word take variants; numeric files run once.
        if capacity and not uncapacitated and read_cap(f, capacity=capacity[0]).capacity_word:
            variants = list(capacity)
        for cap in variants:
            out.add(run_cap(f, capacity=cap, uncapacitated=uncapacitated, solver=solver, time_limit=time_limit,
                            optima=table))
    out.finish()


@bench.command("sjc")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--p", "p", type=int, required=True, help="Number of facilities.")
@click.option("--radius", type=float, required=True, help="Coverage radius S (metres).")
@_common
def sjc(file, p, radius, solver, time_limit, optima, as_json) -> None:
    """A São José dos Campos MCLP file."""
    _check_options([file], time_limit=time_limit)
    out = _Printer(as_json)
    out.add(run_sjc(file, p=p, radius=radius, solver=solver, time_limit=time_limit, optima=_optima(optima)))
    out.finish()
