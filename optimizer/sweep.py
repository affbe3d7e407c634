"""Budget and equity sweeps: what each extra 100 million yuan buys, and what fairness costs.

A sweep solves one scenario over a grid of budgets × objectives × objective
weight sets and tabulates, per point, the population covered per facility
type, the worst-off county's coverage rate and the gap between unit groups
(e.g. Zhejiang's 26 mountain counties) and the rest. The points run in
parallel on `Dask distributed <https://distributed.dask.org>`_: a
``LocalCluster`` on this machine by default, or any running cluster::

    regionopt sweep configs/zhejiang.yaml --budgets 1e9:1e10:10 --objectives coverage,equity
    regionopt sweep configs/zhejiang.yaml --budgets 2e9,4e9 --scheduler tcp://10.0.0.5:8786

or from a notebook::

    >>> from optimizer.sweep import sweep
    >>> table = sweep("configs/zhejiang.yaml", budgets="1e9:1e10:10",
    ...               objectives=["coverage", "equity"])            # doctest: +SKIP

How it works
    The client loads the scenario once, checks every grid point (so a bad
    ``--weights`` fails before anything is solved) and keys each point by a
    SHA-256 of its full scenario: the settings fingerprint after the point's
    changes plus the SHA-256 of every input file. Workers receive the
    scenario *path* and the point's changes (a few hundred bytes), load the
    scenario once per process (cached by path and file modification times)
    and return plain numbers. The client writes each point to
    ``<out>/points/<hash>.json`` atomically as it finishes; a rerun skips the
    points already there, so Ctrl-C loses no finished point. A worker that
    dies mid-point loses only that point, which the Dask scheduler runs again
    on another worker (tasks are pure: same input, same result, no side
    effects). When everything is in, ``sweep.csv``, ``sweep.parquet``,
    ``sweep.html`` and three PNG plots are written, each atomically.
    Workers must see the scenario's files at the same paths (they check the
    SHA-256 digests and refuse otherwise); ``--ship-scenario`` sends the
    loaded scenario instead (about 5 MB for Zhejiang) for clusters without a
    shared folder. The dashboard link is printed when the scheduler has bokeh.

Determinism
    Every point is solved with ``solver.threads = 1`` and rows come back in
    grid order, so the same grid gives the same table with 1 or 20 workers —
    as long as no point stops at the time limit (a time-limited search
    depends on machine speed; such rows have status ``feasible``).

Monotonicity
    With more budget a plan can only get better: every plan affordable at a
    smaller budget is still affordable (per-family and per-unit caps stay
    fixed, or grow with ``scale_caps``). So the value the objective optimises
    never gets worse as the budget rises *when every point is solved to
    proven optimality* (``solver.mip_gap = 0`` and no time limit hit). With a
    positive MIP gap two points may each stop anywhere within the gap, and a
    larger budget can come out slightly worse. The sweep does not hide this:
    column ``monotone_ok`` is ``False`` for a row whose objective value is
    worse than that of a smaller budget on the same line, and the report lists
    such rows; the row keeps its own numbers. Because the cheaper plan is
    still affordable, columns ``best_budget`` and ``best_covered_total`` name
    the best plan *known* at each budget, and the frontier plot and the
    marginal gains use that monotone envelope. Rerun with ``--mip-gap 0`` to
    remove the flags (at a price in solve time). Note that the
    monotone quantity is the objective — for ``coverage`` the weighted
    coverage minus penalties for unmet soft standards; for ``equity`` the
    max-min unit rate — not necessarily every column: with soft standards, a
    larger budget may trade some coverage for meeting a standard.

The sweep needs the ``dask`` extra (``dask[distributed]``, ``pyarrow``,
``matplotlib``), imported only when a sweep runs; ``workers=0`` solves the
points one after another in this process without Dask.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io as _io
import json
import math
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np
import pandas as pd

from . import __version__
from .errors import ConfigError, InfeasibleError, OutputError, RegionoptError

if TYPE_CHECKING:  # pragma: no cover
    from .result import PlanResult
    from .scenario import Scenario

__all__ = [
    "OBJECTIVES",
    "SweepPoint",
    "parse_budgets",
    "parse_objectives",
    "parse_weights",
    "expand_grid",
    "point_changes",
    "point_hash",
    "input_digests",
    "solve_point",
    "finalize_table",
    "sweep",
    "write_sweep_outputs",
    "sweep_command",
]

#: Objective kinds a sweep can compare (those of ``objective.kind``).
OBJECTIVES = ("coverage", "equity", "min_cost", "access")

#: Objectives whose value is minimised; the others are maximised.
_MINIMISED = {"min_cost", "access"}

#: Test-only: seconds each point sleeps on the worker before solving, so a
#: test can kill a worker while points are in flight. Never set it otherwise.
DELAY_ENV = "REGIONOPT_SWEEP_DELAY"

#: Version of the per-point JSON layout; part of the point hash so a change
#: of layout never reads an old file as a finished point.
_POINT_FORMAT = 1

#: Budgets are in yuan; 1e8 yuan = 100 million yuan (1 亿), the unit planners quote.
_PER = 1e8

Progress = Callable[[str, dict], None]


# =============================================================================== grid
@dataclass(frozen=True)
class SweepPoint:
    """One point of the grid.

    Attributes
    ----------
    index
        Position in grid order (weights outermost, then objective, then budget).
    budget
        ``budget.total`` in yuan.
    objective
        ``objective.kind``.
    weights
        Objective weights as ``((type, weight), ...)``, or ``None`` for the
        scenario's own weights.
    weights_label
        How the weights appear in tables and plots (``"scenario"`` for the
        scenario's own).
    """

    index: int
    budget: float
    objective: str
    weights: tuple[tuple[str, float], ...] | None
    weights_label: str

    @property
    def line(self) -> str:
        """The curve this point belongs to: objective and weight set."""
        return f"{self.objective} / {self.weights_label}"


def _clean_number(x: float) -> float:
    # linspace leaves float noise (3.0000000000000004e9); 12 significant digits
    # keep every real budget and make equal budgets hash equally.
    return float(f"{float(x):.12g}")


def _number(text: str, option: str, what: str, hint: str = "write numbers like 2e9 or 2000000000") -> float:
    try:
        value = float(text.strip().replace("_", ""))
    except ValueError:
        raise ConfigError(f"{what} {text.strip()!r} is not a number", field=option, hint=hint) from None
    if not math.isfinite(value):
        raise ConfigError(f"{what} {text.strip()!r} is not a finite number", field=option, hint=hint)
    return value


def parse_budgets(spec: str | float | Sequence[float], option: str = "--budgets") -> list[float]:
    """Budgets (yuan) from ``"start:stop:count"`` (inclusive, evenly spaced) or a comma list.

    Items of a comma list may themselves be ranges: ``"1e9:5e9:5,1e10"``.

    Parameters
    ----------
    spec
        The specification, or already a number / list of numbers.
    option
        Named in error messages.

    Returns
    -------
    list of float
        The budgets in the order given.

    Raises
    ------
    ConfigError
        Malformed item, non-positive budget, count below 2, or a budget given twice.

    Examples
    --------
    >>> parse_budgets("1e9:3e9:3")
    [1000000000.0, 2000000000.0, 3000000000.0]
    >>> parse_budgets("5e8, 1e9")
    [500000000.0, 1000000000.0]
    """
    if isinstance(spec, (int, float, np.number)):
        items: list[float] = [float(spec)]
    elif isinstance(spec, str):
        if not spec.strip():
            raise ConfigError("no budgets given", field=option, hint="e.g. --budgets 1e9:1e10:10 or --budgets 2e9,4e9")
        items = []
        for part in spec.split(","):
            part = part.strip()
            if not part:
                raise ConfigError(f"empty item in {spec!r}", field=option, hint="separate budgets by single commas")
            if ":" in part:
                pieces = part.split(":")
                if len(pieces) != 3:
                    raise ConfigError(
                        f"range {part!r} must be start:stop:count",
                        field=option,
                        hint="e.g. 1e9:1e10:10 = ten budgets from 1e9 to 1e10, both included",
                    )
                start = _number(pieces[0], option, "range start")
                stop = _number(pieces[1], option, "range stop")
                count_f = _number(pieces[2], option, "range count")
                if count_f != int(count_f) or count_f < 2:
                    raise ConfigError(
                        f"range {part!r}: count must be a whole number of at least 2, got {pieces[2].strip()!r}",
                        field=option,
                        hint="start:stop:count gives count budgets from start to stop, both included",
                    )
                if stop <= start:
                    raise ConfigError(f"range {part!r}: stop must be larger than start", field=option,
                                      hint="write the smaller budget first, e.g. 1e9:1e10:10")
                items.extend(np.linspace(start, stop, int(count_f)).tolist())
            else:
                items.append(_number(part, option, "budget"))
    else:
        try:
            items = [float(x) for x in spec]
        except (TypeError, ValueError):
            raise ConfigError(f"budgets must be numbers, got {spec!r}", field=option, hint="e.g. budgets=[2e9, 4e9] or '1e9:1e10:10'") from None
        if not items:
            raise ConfigError("no budgets given", field=option, hint="e.g. budgets=[2e9, 4e9] or '1e9:1e10:10'")
    out: list[float] = []
    for value in items:
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"budget {value:g} must be positive (yuan)", field=option,
                              hint="give budgets in yuan above 0, e.g. 2e9 for 2 billion")
        value = _clean_number(value)
        if value in out:
            raise ConfigError(f"budget {value:g} is given twice", field=option, hint="list each budget once")
        out.append(value)
    return out


def parse_objectives(spec: str | Sequence[str], option: str = "--objectives") -> list[str]:
    """Objective kinds from a comma list (``"coverage,equity"``) or a list."""
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s).strip() for s in spec]
    if not items or any(not s for s in items):
        raise ConfigError(f"empty objective in {spec!r}", field=option, hint=f"choose from {', '.join(OBJECTIVES)}")
    for kind in items:
        if kind not in OBJECTIVES:
            import difflib

            close = difflib.get_close_matches(kind, OBJECTIVES, n=1)
            raise ConfigError(
                f"unknown objective {kind!r}",
                field=option,
                hint=(f"did you mean {close[0]!r}? " if close else "") + f"choose from {', '.join(OBJECTIVES)}",
            )
    if len(set(items)) != len(items):
        raise ConfigError(f"an objective is listed twice in {spec!r}", field=option, hint="list each objective once")
    return items


def parse_weights(spec: str | dict | None, option: str = "--weights") -> dict[str, float] | None:
    """One weight set from ``"library=2,museum=1"``; ``"scenario"`` (or ``None``) = the scenario's own.

    Types not named weigh 1, as in a scenario file's ``objective.weights``.
    """
    if spec is None:
        return None
    if isinstance(spec, dict):
        items = list(spec.items())
    else:
        text = str(spec).strip()
        if text.lower() in ("scenario", "default"):
            return None
        if not text:
            raise ConfigError("empty weight set", field=option, hint="e.g. --weights 'library=2,museum=1'")
        items = []
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise ConfigError(
                    f"{part.strip()!r} is not type=weight",
                    field=option,
                    hint="e.g. --weights 'library=2,museum=1' (repeat --weights for more weight sets)",
                )
            items.append((key.strip(), value))
    out: dict[str, float] = {}
    for key, value in items:
        w = (_number(str(value), option, f"weight of {key!r}", hint="e.g. --weights 'library=2,museum=1'")
             if not isinstance(value, (int, float)) else float(value))
        if not math.isfinite(w) or w < 0:
            raise ConfigError(f"weight of {key!r} must be a non-negative number, got {value!r}", field=option,
                              hint="use 0 to ignore a type, 1 (the default) for equal weight, more to favour it")
        if key in out:
            raise ConfigError(f"{key!r} is weighted twice in one weight set", field=option,
                              hint="name each type once per --weights")
        out[key] = _clean_number(w)
    return out


def _weights_label(weights: dict[str, float] | None) -> str:
    return "scenario" if weights is None else ",".join(f"{k}={v:g}" for k, v in weights.items())


def expand_grid(
    budgets: str | Sequence[float],
    objectives: str | Sequence[str],
    weights: Sequence[str | dict | None] | None = None,
) -> list[SweepPoint]:
    """All grid points in grid order: weight sets outermost, then objectives, then budgets.

    Parameters
    ----------
    budgets
        See :func:`parse_budgets`.
    objectives
        See :func:`parse_objectives`.
    weights
        Weight sets (see :func:`parse_weights`); ``None`` = only the scenario's own.

    Examples
    --------
    >>> [(p.objective, p.budget) for p in expand_grid("1e9,2e9", "coverage,equity")]
    [('coverage', 1000000000.0), ('coverage', 2000000000.0), ('equity', 1000000000.0), ('equity', 2000000000.0)]
    """
    bs = parse_budgets(budgets)
    objs = parse_objectives(objectives)
    sets = [parse_weights(w) for w in (weights if weights else [None])]
    labels = [_weights_label(w) for w in sets]
    if len(set(labels)) != len(labels):
        raise ConfigError("a weight set is given twice", field="--weights", hint="give each weight set once")
    points = []
    for w, label in zip(sets, labels):
        frozen = None if w is None else tuple(w.items())
        for kind in objs:
            for b in bs:
                points.append(SweepPoint(len(points), b, kind, frozen, label))
    return points


# =============================================================================== hashing
def point_changes(
    point: SweepPoint,
    base: "Scenario",
    *,
    scale_caps: bool = False,
    time_limit: float | None = None,
    mip_gap: float | None = None,
) -> dict[str, Any]:
    """The :meth:`Scenario.replace` changes that turn ``base`` into ``point``'s scenario.

    Always sets ``solver.threads = 1``: one thread per point makes the solve
    deterministic and lets workers, not solver threads, use the cores.
    ``scale_caps`` multiplies the per-family and per-unit caps by
    ``budget / base budget`` (departments keep their shares); otherwise caps
    stay as in the scenario and a budget beyond their sum buys nothing more.
    """
    changes: dict[str, Any] = {
        "budget.total": point.budget,
        "objective.kind": point.objective,
        "solver.threads": 1,
    }
    if point.weights is not None:
        changes["objective.weights"] = dict(point.weights)
    if time_limit is not None:
        changes["solver.time_limit"] = float(time_limit)
    if mip_gap is not None:
        changes["solver.mip_gap"] = float(mip_gap)
    if scale_caps:
        factor = point.budget / float(base.budget.total)
        if base.budget.per_family:
            changes["budget.per_family"] = {k: _clean_number(v * factor) for k, v in base.budget.per_family.items()}
        if base.budget.per_unit:
            caps = []
            for cap in base.budget.per_unit:
                d = cap.model_dump(mode="json")
                d["amount"] = None if cap.amount is None else _clean_number(cap.amount * factor)
                d["overrides"] = {k: _clean_number(v * factor) for k, v in cap.overrides.items()}
                caps.append(d)
            changes["budget.per_unit"] = caps
    return changes


def _region_digest(scenario: "Scenario") -> str:
    """SHA-256 of a region held in memory (scenarios built in code have no files to hash)."""
    region = scenario.region
    h = hashlib.sha256()
    h.update(region.name.encode())
    h.update(region.projected_crs.to_wkt().encode())
    for layer in ("admin_units", "demand", "facilities", "candidates"):
        gdf = getattr(region, layer)
        h.update(layer.encode())
        h.update(json.dumps([str(c) for c in gdf.columns]).encode())
        plain = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(str)
        h.update(pd.util.hash_pandas_object(plain, index=True).to_numpy().tobytes())
        h.update(b"".join(w or b"" for w in gdf.geometry.to_wkb()))
    return h.hexdigest()


def input_digests(scenario: "Scenario") -> dict[str, str]:
    """SHA-256 of every input file of ``scenario`` (label → hex digest).

    A scenario assembled in code without files is digested from its region in memory.
    """
    from .output import input_files, sha256_file

    if scenario.source_path is None:
        return {"region (in memory)": _region_digest(scenario)}
    digests: dict[str, str] = {}
    by_path: dict[Path, str] = {}
    for label, path in sorted(input_files(scenario).items()):
        p = Path(path).resolve()
        if not p.is_file():
            continue
        if p not in by_path:  # the four layers usually share one GeoPackage
            by_path[p] = sha256_file(p)
        digests[label] = by_path[p]
    return digests


def point_hash(point_scenario: "Scenario", digests: dict[str, str]) -> str:
    """SHA-256 identifying a point's full scenario: settings after the changes plus input data.

    Paths are left out on purpose: moving the project folder keeps finished points.
    """
    payload = {
        "format": _POINT_FORMAT,
        "regionopt": __version__,
        "settings": point_scenario.fingerprint(),
        "inputs": dict(sorted(digests.items())),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# =============================================================================== worker side
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 2  # scenarios kept per worker process; Zhejiang's region is a few hundred MB
_SCENARIO_CACHE: dict[str, tuple[tuple, "Scenario", dict[str, str]]] = {}


def _stamps(paths: Iterable[Path]) -> tuple:
    out = []
    for p in sorted({Path(p).resolve() for p in paths}):
        try:
            st = p.stat()
            out.append((str(p), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(p), None, None))
    return tuple(out)


def _cached_scenario(path: str) -> tuple["Scenario", dict[str, str]]:
    """The scenario at ``path``, loaded once per process and reloaded only when a file changed.

    Loading Zhejiang takes seconds; a sweep point reuses it. The cache is
    keyed by the resolved path and the modification time and size of every
    input file.
    """
    from .output import input_files
    from .scenario import load_scenario

    key = str(Path(path).resolve())
    with _CACHE_LOCK:
        hit = _SCENARIO_CACHE.get(key)
        if hit is not None:
            stamps, scenario, digests = hit
            if _stamps(input_files(scenario).values()) == stamps:
                return scenario, digests
        scenario = load_scenario(key)
        stamps = _stamps(input_files(scenario).values())
        digests = input_digests(scenario)
        _SCENARIO_CACHE.pop(key, None)
        while len(_SCENARIO_CACHE) >= _CACHE_SIZE:  # a long-lived worker serving many sweeps
            _SCENARIO_CACHE.pop(next(iter(_SCENARIO_CACHE)))
        _SCENARIO_CACHE[key] = (stamps, scenario, digests)
        return scenario, digests


def solve_point(source: "str | Scenario", changes: dict[str, Any], expected_digests: dict[str, str] | None = None) -> dict:
    """Solve one sweep point; the Dask task (pure: same arguments, same numbers).

    Parameters
    ----------
    source
        Path of the scenario file (loaded once per worker process), or a
        :class:`Scenario` object.
    changes
        :meth:`Scenario.replace` changes of this point (see :func:`point_changes`).
    expected_digests
        The input-file digests the client hashed; a worker that sees other
        files (e.g. a stale copy on another machine) refuses to solve.

    Returns
    -------
    dict
        ``row`` (the table columns this point contributes), ``persist``
        (whether the outcome is a result worth keeping: a plan or a proven
        infeasibility) and, for a plan, ``chosen_sites`` and ``coverage_by_type``.
    """
    from .model import PlanningModel

    t0 = time.perf_counter()
    delay = os.environ.get(DELAY_ENV)
    if delay:
        time.sleep(float(delay))
    record: dict[str, Any] = {"worker": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        if isinstance(source, (str, os.PathLike)):
            base, digests = _cached_scenario(str(source))
            if expected_digests is not None and digests != expected_digests:
                differ = sorted(k for k in set(digests) | set(expected_digests) if digests.get(k) != expected_digests.get(k))
                from .errors import InputError

                raise InputError(
                    f"this worker ({record['worker']}) reads different input files than the client: {', '.join(differ)}",
                    file=source,
                    hint="workers must see the same scenario and data files at the same paths (a shared folder)",
                )
        else:
            base = source
        scenario = base.replace(**changes)
        result = PlanningModel(scenario).solve()
    except InfeasibleError as exc:
        record.update(row={"status": "infeasible", "message": str(exc).splitlines()[0]}, persist=True)
    except RegionoptError as exc:
        # A solver failure or unusable files: report it on the row, but do not
        # keep it as a finished point — a rerun should try again.
        record.update(row={"status": "error", "message": str(exc).splitlines()[0]}, persist=False)
    else:
        record.update(row=_metrics(result), persist=True)
        record["chosen_sites"] = [
            {"site_id": str(s), "facility_type": str(t)}
            for s, t in zip(result.chosen_sites["site_id"], result.chosen_sites["facility_type"])
        ]
        record["coverage_by_type"] = [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()}
            for rec in result.coverage_totals[["facility_type", "population", "covered_before", "covered_after"]].to_dict(orient="records")
        ]
        del result
    record["row"]["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def _metrics(result: "PlanResult") -> dict[str, Any]:
    """The table columns of one solved point."""
    from .model import compared_units

    sc = result.scenario
    kind = sc.objective.kind
    # The value the objective optimises, which is the monotone one: for
    # equity that is stage 1's max-min rate, not stage 2's coverage.
    value = result.stages[0].objective if kind == "equity" and result.stages else result.objective
    totals = result.coverage_totals.set_index("facility_type")
    row: dict[str, Any] = {
        "status": result.status,
        "gap": result.gap,
        "objective_value": value,
        "covered_total": float(totals["covered_after"].sum()),
    }
    for type_id in sc.catalogue:
        row[f"covered__{type_id}"] = float(totals.at[type_id, "covered_after"])
    # Minimum unit coverage, defined like the equity objective: per unit,
    # Σ_k w_k covered_k / Σ_k w_k population_k, over the units equity
    # compares (the scenario's equity.levels, by default the finest levels
    # with boundaries; only the group's units for units_in_group), so on an
    # equity line it is the max-min rate the solver proved.
    cov = result.coverage
    cov = cov[cov["unit_id"].isin(compared_units(sc))]
    w = cov["facility_type"].map(sc.weight).astype(float)
    num = (cov["covered_after"] * w).groupby(cov["unit_id"]).sum()
    den = (cov["population"] * w).groupby(cov["unit_id"]).sum()
    rate = (num[den > 0] / den[den > 0]).sort_index()
    row["min_unit_rate"] = float(rate.min()) if len(rate) else None
    row["min_unit"] = str(rate.idxmin()) if len(rate) else None
    for group, df in result.group_gaps.items():
        overall = df[df["facility_type"] == "all types"].iloc[0]
        row[f"gap__{group}"] = float(overall["gap_after"])
        row[f"group_rate__{group}"] = float(overall["group_rate_after"])
        row[f"rest_rate__{group}"] = float(overall["rest_rate_after"])
    row["budget_used"] = float(result.budget_used)
    row["new_facilities"] = len(result.chosen_sites)
    row["solve_seconds"] = round(float(result.report.seconds), 3)
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


# =============================================================================== table
_LEAD = ["budget", "objective", "weights", "status", "gap", "objective_value", "monotone_ok", "best_budget",
         "covered_total", "best_covered_total"]
_TAIL = ["min_unit_rate", "min_unit"]
_END = ["budget_used", "new_facilities", "seconds", "solve_seconds", "hash", "message"]


def _envelope(values: np.ndarray, has_plan: np.ndarray, maximise: bool) -> tuple[list[bool | None], list[int | None]]:
    """Along one line sorted by budget: is each plan at least as good as every cheaper one, and which is best so far?

    Returns the ``monotone_ok`` flags and, per position, the position of the
    best plan known at that budget (its own, or a cheaper one that beats it:
    every plan affordable at a smaller budget is affordable at a larger one).
    """
    flags: list[bool | None] = []
    best_at: list[int | None] = []
    best_v, best_pos = None, None
    for pos, (v, ok) in enumerate(zip(values, has_plan)):
        if not ok or v is None or not np.isfinite(v):
            flags.append(None)
            best_at.append(None)
            continue
        if best_v is None:
            good = True
        else:
            # Equal within float noise counts as monotone, and then the
            # point's own plan is the one to show.
            tol = 1e-9 * max(1.0, abs(best_v)) + 1e-7
            good = bool(v >= best_v - tol) if maximise else bool(v <= best_v + tol)
        if good:
            best_v, best_pos = v, pos
        flags.append(good)
        best_at.append(best_pos)
    return flags, best_at


def _not_monotone(df: pd.DataFrame) -> pd.Series:
    """Rows flagged ``monotone_ok = False`` (rows without a plan are not)."""
    return df["monotone_ok"].eq(False).fillna(False).astype(bool)


def finalize_table(rows: Sequence[dict]) -> pd.DataFrame:
    """The sweep table from per-point rows: grid order, monotonicity, best-known frontier, marginal gains.

    Adds, per line (objective × weight set) along the budget:

    ``monotone_ok``
        The point's objective value is at least as good as at every smaller
        budget (``<NA>`` without a plan). See the module docstring.
    ``best_budget``, ``best_covered_total``
        The best plan known at this budget: the point's own, or — where
        ``monotone_ok`` is false — the plan of the smaller budget that beats
        it (still affordable here).
    ``marginal_per_1e8``
        Population covered (summed over types) gained per extra 100 million
        yuan since the next smaller budget with a plan, on the best-known
        frontier — so a within-gap wobble never shows as money losing people.
    """
    df = pd.DataFrame(list(rows))
    if df.empty:
        return df
    df = df.sort_values("point", kind="stable").reset_index(drop=True)
    for col in ("objective_value", "covered_total", "gap", "min_unit_rate", "budget_used"):
        if col not in df:
            df[col] = np.nan
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["marginal_per_1e8"] = np.nan
    df["best_budget"] = np.nan
    df["best_covered_total"] = np.nan
    df["monotone_ok"] = pd.array([pd.NA] * len(df), dtype="boolean")
    has_plan = df["status"].isin(["optimal", "feasible"]).to_numpy()
    for idx in df.groupby(["objective", "weights"], sort=False).groups.values():
        sub = df.loc[idx].sort_values("budget", kind="stable")
        plan = has_plan[sub.index]
        flags, best_at = _envelope(sub["objective_value"].to_numpy(), plan, maximise=sub["objective"].iloc[0] not in _MINIMISED)
        df.loc[sub.index, "monotone_ok"] = pd.array(flags, dtype="boolean")
        prev_cov, prev_budget = np.nan, np.nan
        for i, b, best in zip(sub.index, sub["budget"], best_at):
            if best is None:
                continue
            j = sub.index[best]
            df.at[i, "best_budget"] = df.at[j, "budget"]
            c = df.at[i, "best_covered_total"] = df.at[j, "covered_total"]
            if np.isfinite(prev_cov) and np.isfinite(c):
                df.at[i, "marginal_per_1e8"] = (c - prev_cov) / (b - prev_budget) * _PER
            if np.isfinite(c):
                prev_cov, prev_budget = c, b
    covered = [c for c in df.columns if c.startswith("covered__")]
    groups = [c for c in df.columns if c.startswith(("gap__", "group_rate__", "rest_rate__"))]
    # A boolean unit column whose group has no population (e.g. a flag on
    # units without demand) gives no gap at all: leave its columns out.
    empty = {c.split("__", 1)[1] for c in groups if c.startswith("gap__") and df[c].isna().all()}
    df = df.drop(columns=[c for c in groups if c.split("__", 1)[1] in empty])
    groups = [c for c in groups if c.split("__", 1)[1] not in empty]
    lead = [c for c in ["point", *_LEAD] if c in df]
    order = lead + covered + ["marginal_per_1e8"] + [c for c in _TAIL if c in df] + groups + [c for c in _END if c in df]
    rest = [c for c in df.columns if c not in order]
    return df[order + rest]


# =============================================================================== outputs
def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file in the same folder and one rename.

    The temporary name is unique per process and call (several helpers may
    write one folder) and is created by ``write`` itself, so the file gets
    the usual permissions.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_point(points_dir: Path, digest: str, data: dict) -> Path:
    from .output import write_json

    target = points_dir / f"{digest}.json"
    _atomic_write(target, lambda tmp: write_json(tmp, data))
    return target


def _read_point(points_dir: Path, digest: str) -> dict | None:
    """A finished point, or ``None`` if missing or not a valid point file for this hash."""
    path = points_dir / f"{digest}.json"
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("hash") != digest or not isinstance(data.get("row"), dict):
        return None
    return data


def _series(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    single_weights = df["weights"].nunique() == 1
    out = []
    for (kind, wl), sub in df.groupby(["objective", "weights"], sort=False):
        label = kind if single_weights else f"{kind} / {wl}"
        out.append((label, sub.sort_values("budget")))
    return out


def _budget_axis(df: pd.DataFrame) -> tuple[float, str]:
    return (_PER, "budget (100 million yuan)") if df["budget"].max() >= _PER else (1.0, "budget (yuan)")


def _plots(df: pd.DataFrame, title: str) -> dict[str, bytes]:
    """The three sweep plots as PNG bytes (matplotlib, Agg: no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    scale, xlabel = _budget_axis(df)
    big = df["covered_total"].max() >= 1e6 if df["covered_total"].notna().any() else False
    cscale, clabel = (1e6, "population covered, summed over types (millions)") if big else (1.0, "population covered, summed over types")
    series = _series(df)
    # Lines often coincide (e.g. two weight sets choosing the same plans):
    # vary dash and marker too, so no line hides another.
    dashes, markers = ["-", "--", ":", "-."], ["o", "s", "^", "D", "v", "P"]
    styles = [{"linestyle": dashes[i % 4], "marker": markers[i % 6], "markersize": 6 - (i % 3)} for i in range(len(series))]
    pngs: dict[str, bytes] = {}

    def save(fig, name):
        buf = _io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        pngs[name] = buf.getvalue()

    # 1. Efficiency frontier: coverage vs budget.
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for (label, sub), style in zip(series, styles):
        ok = sub["status"].isin(["optimal", "feasible"])
        # The line is the best plan known at each budget; a point whose own
        # plan is worse than a cheaper one is drawn as a red x off the line.
        ax.plot(sub.loc[ok, "budget"] / scale, sub.loc[ok, "best_covered_total"] / cscale, label=label, **style)
        bad = sub[ok & _not_monotone(sub)]
        if len(bad):
            ax.scatter(bad["budget"] / scale, bad["covered_total"] / cscale, marker="x", s=80, color="red", zorder=5)
        unproven = sub[sub["status"] == "feasible"]
        if len(unproven):
            ax.scatter(unproven["budget"] / scale, unproven["covered_total"] / cscale, marker="o", s=90,
                       facecolors="none", edgecolors="black", zorder=4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(clabel)
    ax.set_title(f"Coverage vs budget — {title}\n(line: best plan known at each budget; red x: a point's own plan, "
                 "worse than a cheaper one;\nopen circle: not proven optimal)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, "frontier.png")

    # 2. Equity vs efficiency: worst-off unit's rate vs total coverage.
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for (label, sub), style in zip(series, styles):
        ok = sub["status"].isin(["optimal", "feasible"]) & sub["min_unit_rate"].notna()
        s = sub[ok]
        ax.plot(s["covered_total"] / cscale, s["min_unit_rate"] * 100, label=label, **style)
        for end in ([s.index[0], s.index[-1]] if len(s) else []):
            ax.annotate(f"{s.at[end, 'budget'] / scale:g}", (s.at[end, "covered_total"] / cscale, s.at[end, "min_unit_rate"] * 100),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(clabel)
    ax.set_ylabel("worst-off unit's coverage rate (%)")
    ax.set_title(f"Equity vs efficiency — {title}\n(labels: {xlabel.split('(')[-1].rstrip(')')} at each end)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, "equity_efficiency.png")

    # 3. Marginal population per 100 million yuan between consecutive budgets.
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for (label, sub), style in zip(series, styles):
        m = sub[sub["marginal_per_1e8"].notna()]
        prev = sub["budget"].shift(1)
        mid = ((m["budget"] + prev.loc[m.index]) / 2) / scale
        ax.plot(mid, m["marginal_per_1e8"] / (1e3 if big else 1), label=label, **style)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel(xlabel + " — midpoint of each step")
    ax.set_ylabel("extra population covered per 100 million yuan" + (" (thousands)" if big else ""))
    ax.set_title(f"What each extra 100 million yuan buys — {title}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, "marginal.png")
    return pngs


def _html_page(df: pd.DataFrame, meta: dict, pngs: dict[str, bytes]) -> str:
    """A self-contained HTML page: no script, no CDN, images inlined; every data string escaped."""
    e = html.escape
    scen = meta["scenario"]
    bad = df[_not_monotone(df)]
    unproven = int((df["status"] == "feasible").sum())
    no_plan = df[~df["status"].isin(["optimal", "feasible"])]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(scen['name'])} — budget and equity sweep</title>",
        (
            "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:75em;color:#222}"
            "table{border-collapse:collapse;font-size:.8em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
            "th{background:#f3f3f3}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}"
            ".note{background:#fff8e0;padding:.5em 1em;border-left:4px solid #e0b000}</style></head><body>"
        ),
        f"<h1>Budget and equity sweep: {e(scen['name'])}</h1>",
        f"<p>{e(scen.get('title') or '')}</p>",
        (
            f"<p>{len(df)} points: budgets {e(', '.join(f'{b:,.0f}' for b in meta['grid']['budgets']))} yuan; "
            f"objectives {e(', '.join(meta['grid']['objectives']))}; weight sets {e(' | '.join(meta['grid']['weights']))}. "
            f"Solver {e(str(meta['solver'].get('name')))}, MIP gap {e(str(meta['solver'].get('mip_gap')))}, "
            f"time limit {e(str(meta['solver'].get('time_limit')))} s, one thread per point"
            f"{'; per-family and per-unit caps scaled with the budget' if meta.get('scale_caps') else ''}.</p>"
        ),
        '<p class="note">Objective values are monotone in the budget only for points solved to proven optimality '
        "(MIP gap 0, no time limit hit). "
        + (f"{len(bad)} row(s) found a plan worse than a smaller budget's on the same line (monotone_ok = False, red x): "
           + e("; ".join(f"{r.objective} / {r.weights} at {r.budget:,.0f} (best known: the plan for {r.best_budget:,.0f})"
                         for r in bad.itertuples()))
           + ". The cheaper plan is still affordable, so the frontier line and the marginal gains use it "
           "(columns best_budget, best_covered_total). Rerun with --mip-gap 0 to remove the flags. "
           if len(bad) else "Every row is monotone. ")
        + (f"{unproven} point(s) stopped at the time limit (status feasible). " if unproven else "")
        + (f"{len(no_plan)} point(s) have no plan: " + e("; ".join(f"{r.objective} at {r.budget:,.0f}: {r.status}" for r in no_plan.itertuples())) if len(no_plan) else "")
        + "</p>",
    ]
    captions = {
        "frontier.png": "Efficiency frontier: population covered (summed over facility types) vs budget.",
        "equity_efficiency.png": "Equity vs efficiency: the worst-off county-level unit's weighted coverage rate vs total coverage.",
        "marginal.png": "Marginal gain: extra population covered per 100 million yuan between consecutive budgets.",
    }
    for name, data in pngs.items():
        parts.append(f"<h2>{e(captions.get(name, name))}</h2>")
        parts.append(f'<img alt="{e(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">')
    parts.append("<h2>Table</h2>")
    shown = df.drop(columns=[c for c in ("message",) if c in df and df[c].isna().all()])
    whole = [c for c in shown.columns
             if c in ("budget", "best_budget", "covered_total", "best_covered_total", "budget_used", "marginal_per_1e8")
             or c.startswith("covered__")]
    formatters = {c: (lambda x: "" if pd.isna(x) else f"{x:,.0f}") for c in whole}
    formatters["hash"] = lambda h: f"{h[:12]}…"  # the full hash names the file in points/ and is in sweep.csv
    parts.append(shown.to_html(index=False, escape=True, na_rep="", formatters=formatters, float_format=lambda x: f"{x:.6g}"))
    parts.append(f"<p>regionopt {e(__version__)}, written {e(meta['created'])}.</p></body></html>")
    return "\n".join(parts)


def write_sweep_outputs(df: pd.DataFrame, out_dir: str | Path, meta: dict, *, plots: bool = True) -> list[Path]:
    """Write ``sweep.csv``, ``sweep.parquet``, ``sweep.json`` and (with ``plots``) ``sweep.html`` + PNGs.

    Every file is written to a temporary name and renamed into place, so an
    interruption never leaves half a table. Returns the files written.
    """
    from .output import write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    _atomic_write(out / "sweep.csv", lambda p: df.to_csv(p, index=False))
    written.append(out / "sweep.csv")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        meta.setdefault("notes", []).append("sweep.parquet not written: pyarrow is not installed")
    else:
        _atomic_write(out / "sweep.parquet", lambda p: df.to_parquet(p, index=False))
        written.append(out / "sweep.parquet")
    if plots and len(df):
        try:
            pngs = _plots(df, meta["scenario"]["name"])
        except ImportError:
            meta.setdefault("notes", []).append("plots not written: matplotlib is not installed")
        else:
            for name, data in pngs.items():
                _atomic_write(out / name, lambda p, data=data: p.write_bytes(data))
                written.append(out / name)
            page = _html_page(df, meta, pngs)
            _atomic_write(out / "sweep.html", lambda p: p.write_text(page, encoding="utf-8"))
            written.append(out / "sweep.html")
    _atomic_write(out / "sweep.json", lambda p: write_json(p, meta))
    written.append(out / "sweep.json")
    return written


# =============================================================================== driver
def _ignore_sigint() -> None:
    import signal

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


class _Cluster:
    """A Dask client: ours (LocalCluster or a connection we opened) or the caller's."""

    def __init__(self, client=None, scheduler: str | None = None, workers: int = 2):
        try:
            import distributed
        except ImportError as exc:  # pragma: no cover - the dask extra is installed in tests
            raise ConfigError(
                "running a sweep on Dask needs dask[distributed]",
                field="--workers",
                hint="pip install 'regionopt[dask]', or use --workers 0 to solve the points one by one here",
            ) from exc
        self.cluster = None
        self.own = client is None
        if client is not None:
            self.client = client
            self.kind = "given client"
        elif scheduler:
            try:
                self.client = distributed.Client(scheduler, timeout=15)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ConfigError(
                    f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}",
                    field="--scheduler",
                    hint="start one with 'dask scheduler' and give its address, e.g. tcp://127.0.0.1:8786",
                ) from None
            self.kind = f"scheduler {scheduler}"
        else:
            import logging

            import dask

            # The worker's statistical profiler samples the task thread every
            # 10 ms; model building is pure Python, and on Zhejiang it cost ~8%
            # of each point (5.7 s vs 5.3 s for one point). It only feeds the
            # dashboard's profile page. Nannies pass this config to workers.
            with dask.config.set({"distributed.worker.profile.enabled": False}):
                self.cluster = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    # Any free port: several sweeps may run side by side. (The
                    # scheduler serves HTTP even without bokeh; see `dashboard`.)
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,
                )
            self.client = distributed.Client(self.cluster)
            # Ctrl-C in a terminal reaches the whole process group; our
            # workers should leave it to this process, which cancels the
            # points and closes the cluster, instead of each printing a
            # traceback on the way down.
            try:
                self.client.run(_ignore_sigint)
            except Exception:  # cosmetic only
                pass
            self.kind = f"LocalCluster, {workers} worker process{'es' if workers != 1 else ''}, 1 thread each"

    @property
    def dashboard(self) -> str | None:
        """The dashboard link, if the scheduler has one (it needs bokeh, an optional package)."""
        try:
            info = self.client.scheduler_info()
            if "dashboard" not in info.get("services", {}):
                return None
            # The scheduler answers HTTP without bokeh too, but then /status
            # only says bokeh is missing: no link worth printing.
            if not self.client.run_on_scheduler(_has_bokeh):
                return None
            return self.client.dashboard_link or None
        except Exception:  # the link is a convenience; never fail a sweep over it
            return None

    def close(self) -> None:
        if not self.own:
            return
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def _quiet(event: str, info: dict) -> None:
    pass


def sweep(
    config: "str | Path | Scenario | None" = None,
    *,
    budgets: str | Sequence[float] | None = None,
    objectives: str | Sequence[str] | None = None,
    weights: Sequence[str | dict | None] | None = None,
    client=None,
    scheduler: str | None = None,
    workers: int = 2,
    out_dir: str | Path | None = None,
    write: bool = True,
    plots: bool = True,
    time_limit: float | None = None,
    mip_gap: float | None = None,
    scale_caps: bool = False,
    force: bool = False,
    ship_scenario: bool = False,
    progress: Progress = _quiet,
) -> pd.DataFrame:
    """Solve a scenario over a grid of budgets × objectives × weight sets, in parallel on Dask.

    Parameters
    ----------
    config
        Scenario file, a :class:`Scenario` (shipped to the workers once), or
        ``None`` for the shipped Zhejiang default.
    budgets
        ``"start:stop:count"`` (inclusive), a comma list, or numbers (yuan).
        Default: 10 budgets from 0.2 to 2 times the scenario's.
    objectives
        Objective kinds (``coverage``, ``equity``, ``min_cost``, ``access``);
        default: the scenario's own.
    weights
        Weight sets, each ``"library=2,museum=1"``, a dict, or ``"scenario"``
        / ``None`` for the scenario's own; default: only the scenario's own.
    client
        A ``distributed.Client`` to use (left open). Otherwise ``scheduler``
        (an address such as ``tcp://host:8786``) is connected to, or a
        ``LocalCluster`` of ``workers`` processes is started and closed again.
    workers
        Worker processes of the LocalCluster; ``0`` solves the points one
        after another in this process, without Dask.
    out_dir
        Where the points and tables go; default ``reports/<scenario>-sweep``.
    write
        ``False``: write nothing (no resuming either), only return the table.
    plots
        Write ``sweep.html`` and the PNG plots.
    time_limit, mip_gap
        Override the scenario's solver settings for every point.
    scale_caps
        Scale per-family and per-unit budget caps with the budget.
    force
        Solve every point again even if it is finished.
    ship_scenario
        Send the loaded scenario to the workers (once each) instead of its
        path, for clusters whose workers do not share this machine's files.
        Zhejiang's scenario pickles to about 5 MB and unpickles in 0.01 s;
        loading it from the GeoPackage takes a worker about 0.7 s once.
    progress
        ``progress(event, info)`` callback: ``"start"`` (counts, cluster,
        dashboard), ``"point"`` (one finished), ``"done"``.

    Returns
    -------
    pandas.DataFrame
        One row per point in grid order (see :func:`finalize_table`), with
        ``df.attrs`` holding ``out_dir``, ``skipped``, ``solved``, ``failed``.

    Raises
    ------
    ConfigError
        A malformed grid option (named in the message) or a grid point the
        scenario cannot take (e.g. weights for an unknown facility type).
    OutputError
        The output folder contains an input file.
    """
    from .output import check_output_dir, default_output_dir, input_files
    from .pipeline import default_config_path
    from .scenario import Scenario, load_scenario

    t_start = time.perf_counter()
    # Options first: a typo should fail in a second, not after loading a province.
    if workers is None or int(workers) < 0:
        raise ConfigError(f"--workers must be 0 or more, got {workers!r}", field="--workers",
                          hint="the number of worker processes on this machine; 0 solves the points here, one by one")
    workers = int(workers)
    if workers == 0 and (client is not None or scheduler):
        raise ConfigError("--workers 0 (no Dask) cannot be combined with --scheduler", field="--workers",
                          hint="drop --workers 0 to use the cluster, or drop --scheduler to solve here")
    if time_limit is not None and not (math.isfinite(time_limit) and time_limit > 0):
        raise ConfigError(f"time limit must be a positive number of seconds, got {time_limit!r}", field="--time-limit",
                          hint="e.g. --time-limit 600, or leave it out to use solver.time_limit of the scenario")
    if mip_gap is not None and not 0 <= mip_gap < 1:
        raise ConfigError(f"MIP gap must be in [0, 1), got {mip_gap!r}", field="--mip-gap",
                          hint="0 proves optimality; 0.01 stops within 1% of the optimum")
    expand_grid(budgets if budgets is not None else [1.0], objectives if objectives is not None else ["coverage"],
                list(weights) if weights else None)

    if isinstance(config, Scenario):
        base = config
        # A scenario in memory may differ from any file it came from: ship the
        # object itself rather than a path the workers would reload.
        path = None
    else:
        path = Path(config) if config is not None else default_config_path()
        base = load_scenario(path)
        path = path.resolve()
    if budgets is None:
        budgets = [float(base.budget.total) * f for f in np.linspace(0.2, 2.0, 10)]
    if objectives is None:
        objectives = [base.objective.kind]
    points = expand_grid(budgets, objectives, list(weights) if weights else None)

    # Check every point against the scenario now, so a bad grid fails before
    # any solving, with the option at fault named.
    for p in points:
        if p.weights is not None:
            for type_id, _ in p.weights:
                if type_id not in base.catalogue:
                    import difflib

                    close = difflib.get_close_matches(type_id, list(base.catalogue), n=1)
                    raise ConfigError(
                        f"weight for {type_id!r}, which is not a facility type of scenario {base.name!r}",
                        field="--weights",
                        hint=(f"did you mean {close[0]!r}? " if close else "") + f"types: {', '.join(base.catalogue)}",
                    )
    # A scenario handed over in memory is identified by its data, not by
    # files it may have been loaded from and changed since.
    digests = input_digests(base) if path is not None else {"region (in memory)": _region_digest(base)}
    changes: list[dict] = []
    hashes: list[str] = []
    for p in points:
        ch = point_changes(p, base, scale_caps=scale_caps, time_limit=time_limit, mip_gap=mip_gap)
        try:
            sc_p = base.replace(**ch)
        except RegionoptError as exc:
            # E.g. required sites that cost more than a small budget, or an
            # objective the scenario lacks settings for (min_cost targets).
            raise ConfigError(
                f"grid point {p.objective} / {p.weights_label} at budget {p.budget:,.0f}: {exc.message}",
                field=exc.field,
                hint=exc.hint,
            ) from None
        changes.append(ch)
        hashes.append(point_hash(sc_p, digests))

    out = None
    points_dir = None
    if write:
        out = check_output_dir(Path(out_dir) if out_dir else default_output_dir(base, "-sweep"), input_files(base))
        points_dir = out / "points"

    finished: dict[int, dict] = {}
    if write and not force:
        for p, h in zip(points, hashes):
            data = _read_point(points_dir, h)
            if data is not None:
                finished[p.index] = data
    todo = [p for p in points if p.index not in finished]
    # The same point twice in a grid (e.g. identical weight sets spelled
    # differently) is solved once.
    unique_todo: dict[str, SweepPoint] = {}
    for p in todo:
        unique_todo.setdefault(hashes[p.index], p)

    records: dict[str, dict] = {}
    failed: dict[str, str] = {}

    def keep(p: SweepPoint, rec: dict) -> None:
        h = hashes[p.index]
        data = {
            "hash": h,
            "format": _POINT_FORMAT,
            "regionopt": __version__,
            "scenario": base.name,
            "point": {"budget": p.budget, "objective": p.objective, "weights": p.weights_label},
            "changes": changes[p.index],
            "inputs": digests,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            **rec,
        }
        records[h] = data
        if write and rec.get("persist"):
            _write_point(points_dir, h, data)

    cluster = None
    dashboard = None
    try:
        if unique_todo and (workers > 0 or client is not None or scheduler):
            cluster = _Cluster(client=client, scheduler=scheduler, workers=workers or 1)
            dashboard = cluster.dashboard
        if write:
            # Created once the cluster runs: a cluster that cannot start leaves no folder behind.
            try:
                points_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(f"cannot create the output folder ({exc.strerror or exc})", file=out,
                                  hint="choose another --out folder, in a folder you can write to") from None
        progress(
            "start",
            {
                "points": len(points),
                "skipped": len(points) - len(todo),
                "todo": len(unique_todo),
                "cluster": cluster.kind if cluster is not None else ("this process, no Dask" if unique_todo else None),
                "dashboard": dashboard,
                "out_dir": out,
            },
        )
        if unique_todo and cluster is None:
            for h, p in unique_todo.items():
                keep(p, solve_point(base, changes[p.index]))
                row = records[h]["row"]
                progress("point", {"point": p, "status": row.get("status"), "message": row.get("message", "")})
        elif unique_todo:
            source = path if path is not None and not ship_scenario else base
            _run_on_dask(cluster.client, unique_todo, changes, source, digests, hashes, keep, failed, progress)
    finally:
        if cluster is not None:
            cluster.close()

    rows = []
    for p, h in zip(points, hashes):
        data = finished.get(p.index) or records.get(h)
        row = dict(data["row"]) if data is not None else {"status": "failed", "message": failed.get(h, "not solved")}
        # Identity columns come from this grid, not the file: one hash may
        # carry different labels (the scenario's weights spelled out).
        row.update(point=p.index, budget=p.budget, objective=p.objective, weights=p.weights_label, hash=h)
        rows.append(row)
    df = finalize_table(rows)
    elapsed = time.perf_counter() - t_start
    df.attrs.update(
        out_dir=str(out) if out else None,
        skipped=len(points) - len(todo),
        solved=len(records),
        failed=len(failed),
        dashboard=dashboard,
        seconds=elapsed,
    )
    if write:
        from .output import package_versions

        meta = {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "scenario": {"name": base.name, "title": base.title, "source": str(base.source_path) if base.source_path else None},
            "scenario_fingerprint": base.fingerprint(),
            "inputs": digests,
            "grid": {
                "budgets": sorted({p.budget for p in points}),
                "objectives": list(dict.fromkeys(p.objective for p in points)),
                "weights": list(dict.fromkeys(p.weights_label for p in points)),
                "points": len(points),
            },
            "solver": {**base.solver.model_dump(mode="json"), **{k.split(".", 1)[1]: v for k, v in changes[0].items() if k.startswith("solver.")}},
            "scale_caps": scale_caps,
            "skipped": df.attrs["skipped"],
            "solved": df.attrs["solved"],
            "failed": df.attrs["failed"],
            "seconds": round(elapsed, 3),
            "cluster": cluster.kind if cluster is not None else "this process",
            "versions": package_versions(),
            "command": sys.argv,
        }
        df.attrs["files"] = [str(p) for p in write_sweep_outputs(df, out, meta, plots=plots)]
    progress("done", {"table": df})
    return df


def _run_on_dask(client, todo: dict[str, SweepPoint], changes, source, digests, hashes, keep, failed, progress) -> None:
    """Submit the points, record each as it completes, cancel the rest on interrupt."""
    from distributed import as_completed

    if not isinstance(source, (str, Path)):
        # One copy per worker instead of one per task.
        source = client.scatter(source, broadcast=True, hash=False)
    else:
        source = str(source)
    futures = {}
    for h, p in todo.items():
        # Key by the point hash: the task is pure, so a resubmitted point (a
        # second sweep on the same cluster) can reuse a result still held.
        # No retries=: a lost worker's tasks are rerun by the scheduler
        # anyway; an exception is deterministic and would only repeat.
        fut = client.submit(solve_point, source, changes[p.index], digests if isinstance(source, str) else None,
                            key=f"regionopt-sweep-{h}", pure=False)
        futures[fut] = p
    try:
        for fut in as_completed(list(futures)):
            p = futures.pop(fut)
            h = hashes[p.index]
            try:
                rec = fut.result()
            except Exception as exc:  # a bug, or KilledWorker: the point crashed worker after worker
                failed[h] = f"{type(exc).__name__}: {exc}".splitlines()[0]
                progress("point", {"point": p, "status": "failed", "message": failed[h]})
            else:
                keep(p, rec)
                progress("point", {"point": p, "status": rec["row"].get("status"), "message": rec["row"].get("message", "")})
            fut.release()
    finally:
        if futures:
            client.cancel(list(futures))


# =============================================================================== CLI
@click.command(name="sweep")
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option("--budgets", default=None, metavar="SPEC",
              help="start:stop:count (inclusive) or a comma list, in yuan [default: 10 budgets from 0.2x to 2x the scenario's].")
@click.option("--objectives", default=None, metavar="LIST", help="Comma list of coverage, equity, min_cost, access [default: the scenario's].")
@click.option("--weights", "weights", multiple=True, metavar="SET",
              help="A weight set 'library=2,museum=1' (unnamed types weigh 1); repeat for more; 'scenario' = the scenario's own.")
@click.option("--workers", default=2, show_default=True, type=int, help="LocalCluster worker processes; 0 = no Dask, solve here one by one.")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Use a running Dask cluster, e.g. tcp://127.0.0.1:8786.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=str), help="Output folder [default: reports/<scenario>-sweep].")
@click.option("--time-limit", type=float, default=None, help="Override solver.time_limit (seconds) for every point.")
@click.option("--mip-gap", type=float, default=None, help="Override solver.mip_gap for every point (0 = prove optimality).")
@click.option("--scale-caps", is_flag=True, help="Scale per-family and per-unit budget caps with the budget.")
@click.option("--force", is_flag=True, help="Solve finished points again.")
@click.option("--ship-scenario", is_flag=True,
              help="Send the scenario to the workers instead of its path (workers without this machine's files).")
@click.option("--no-plots", is_flag=True, help="Skip sweep.html and the PNG plots.")
def sweep_command(config, budgets, objectives, weights, workers, scheduler, out_dir, time_limit, mip_gap, scale_caps, force,
                  ship_scenario, no_plots):
    """Solve a scenario over a grid of budgets, objectives and weights, in parallel on Dask.

    Writes one JSON file per point as it finishes (a rerun skips finished
    points), then sweep.csv, sweep.parquet, sweep.html and PNG plots.
    """
    err = sys.stderr
    state: dict[str, Any] = {"bar": None, "done": 0}

    def progress(event: str, info: dict) -> None:
        if event == "start":
            if info["cluster"]:
                click.echo(f"cluster    {info['cluster']}", err=True)
            if info["dashboard"]:
                click.echo(f"dashboard  {info['dashboard']}", err=True)
            click.echo(
                f"points     {info['points']} in the grid: skipped {info['skipped']} finished, solving {info['todo']}",
                err=True,
            )
            if info["todo"]:
                state["bar"] = click.progressbar(length=info["todo"], label="solving", file=err, show_pos=True)
                state["bar"].__enter__()
        elif event == "point":
            state["done"] += 1
            if state["bar"] is not None:
                state["bar"].update(1)
            if info["status"] in ("failed", "error"):
                click.echo(f"\n  point {info['point'].line} at {info['point'].budget:,.0f}: {info['status']}"
                           f" {info.get('message', '')}", err=True)
        elif event == "done" and state["bar"] is not None:
            state["bar"].__exit__(None, None, None)
            state["bar"] = None

    try:
        df = sweep(
            config,
            budgets=budgets,
            objectives=objectives,
            weights=list(weights) or None,
            scheduler=scheduler,
            workers=workers,
            out_dir=out_dir,
            plots=not no_plots,
            time_limit=time_limit,
            mip_gap=mip_gap,
            scale_caps=scale_caps,
            force=force,
            ship_scenario=ship_scenario,
            progress=progress,
        )
    except KeyboardInterrupt:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)
        click.echo(
            f"\ninterrupted: {state['done']} point(s) finished in this run are saved; run the same command again to continue",
            err=True,
        )
        sys.exit(130)
    finally:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)
    _print_table(df)
    bad = df[_not_monotone(df)]
    if len(bad):
        click.echo(f"warning    {len(bad)} row(s) not monotone in the budget (within the MIP gap); rerun with --mip-gap 0", err=True)
    click.echo(f"written    {df.attrs['out_dir']} (sweep.csv, sweep.parquet, sweep.html, points/)")
    unsolved = int(df["status"].isin(["error", "failed"]).sum())
    if unsolved:
        click.echo(f"error: {unsolved} point(s) could not be solved (see the message column of sweep.csv); "
                   "rerun to retry them", err=True)
        sys.exit(1)


def _print_table(df: pd.DataFrame) -> None:
    cols = ["budget", "objective", "weights", "status", "covered_total", "min_unit_rate", "marginal_per_1e8", "monotone_ok"]
    view = df[[c for c in cols if c in df]].copy()
    for c in ("budget", "covered_total", "marginal_per_1e8"):
        if c in view:
            view[c] = view[c].map(lambda x: "" if pd.isna(x) else f"{x:,.0f}")
    if "min_unit_rate" in view:
        view["min_unit_rate"] = view["min_unit_rate"].map(lambda x: "" if pd.isna(x) else f"{x:.1%}")
    click.echo(view.to_string(index=False))
