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

import contextlib
import difflib
import importlib.util
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._optional import optional_import
from .._version import __version__
from ..errors import ConfigError, RegionoptError
from ..io.atomic import cannot_create_output
from ..pipeline import default_config_path
from ..results.write import (
    check_output_dir,
    default_output_dir,
    input_files,
    package_versions,
)
from ..scenario import Scenario, load_scenario
from .grid import _POINT_FORMAT, SweepPoint, expand_grid, point_changes
from .plots import write_sweep_outputs
from .points import (
    _read_point,
    _region_digest,
    _write_point,
    input_digests,
    point_hash,
    solve_point,
)
from .table import finalize_table

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client, LocalCluster

Progress = Callable[[str, dict[str, Any]], None]


# =============================================================================== driver
def _ignore_sigint() -> None:

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _has_bokeh() -> bool:

    return importlib.util.find_spec("bokeh") is not None


def _import_distributed() -> Any:
    """The ``distributed`` module, or the documented error saying how to get it (or how to do without)."""
    try:
        return optional_import("distributed", purpose="a sweep on Dask")
    except ConfigError as exc:  # pragma: no cover - the dask extra is installed in tests
        raise ConfigError(
            "running a sweep on Dask needs dask[distributed]",
            field="--workers",
            hint="pip install 'regionopt[dask]', or use --workers 0 to solve the points one by one here",
        ) from exc


class _Cluster:
    """A Dask client: ours (LocalCluster or a connection we opened) or the caller's."""

    def __init__(self, client: Client | None = None, scheduler: str | None = None, workers: int = 2) -> None:
        distributed = _import_distributed()
        self.cluster: LocalCluster | None = None
        self.own = client is None
        self.client: Client
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
            dask = optional_import("dask", purpose="a sweep on Dask")

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
            with contextlib.suppress(Exception):  # cosmetic only
                self.client.run(_ignore_sigint)
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


def _quiet(event: str, info: dict[str, Any]) -> None:
    pass


@dataclass
class _Records:
    """The points solved in this run, kept (and written to ``points_dir``, if any) as they finish."""

    base: Scenario
    hashes: list[str]
    changes: list[dict[str, Any]]
    digests: dict[str, str]
    points_dir: Path | None  # None: write nothing
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def keep(self, p: SweepPoint, rec: dict[str, Any]) -> None:
        """Record point ``p``'s result ``rec``, and write it when the worker says it is worth keeping."""
        h = self.hashes[p.index]
        data = {
            "hash": h,
            "format": _POINT_FORMAT,
            "regionopt": __version__,
            "scenario": self.base.name,
            "point": {"budget": p.budget, "objective": p.objective, "weights": p.weights_label},
            "changes": self.changes[p.index],
            "inputs": self.digests,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            **rec,
        }
        self.records[h] = data
        if self.points_dir is not None and rec.get("persist"):
            _write_point(self.points_dir, h, data)


def _check_options(
    workers: int | None,
    client: Client | None,
    scheduler: str | None,
    time_limit: float | None,
    mip_gap: float | None,
) -> int:
    """Fail on a bad option before anything is loaded; returns ``workers`` as an int."""
    if workers is None or int(workers) < 0:
        raise ConfigError(
            f"--workers must be 0 or more, got {workers!r}",
            field="--workers",
            hint="the number of worker processes on this machine; 0 solves the points here, one by one",
        )
    workers = int(workers)
    if workers == 0 and (client is not None or scheduler):
        raise ConfigError(
            "--workers 0 (no Dask) cannot be combined with --scheduler",
            field="--workers",
            hint="drop --workers 0 to use the cluster, or drop --scheduler to solve here",
        )
    if time_limit is not None and not (math.isfinite(time_limit) and time_limit > 0):
        raise ConfigError(
            f"time limit must be a positive number of seconds, got {time_limit!r}",
            field="--time-limit",
            hint="e.g. --time-limit 600, or leave it out to use solver.time_limit of the scenario",
        )
    if mip_gap is not None and not 0 <= mip_gap < 1:
        raise ConfigError(
            f"MIP gap must be in [0, 1), got {mip_gap!r}",
            field="--mip-gap",
            hint="0 proves optimality; 0.01 stops within 1% of the optimum",
        )
    return workers


def _load_base(config: str | Path | Scenario | None) -> tuple[Scenario, Path | None]:
    """The scenario to sweep, and its resolved file (``None`` for a scenario handed over in memory)."""
    if isinstance(config, Scenario):
        # A scenario in memory may differ from any file it came from: ship the
        # object itself rather than a path the workers would reload.
        return config, None
    path = Path(config) if config is not None else default_config_path()
    base = load_scenario(path)
    return base, path.resolve()


def _check_weight_types(points: Sequence[SweepPoint], base: Scenario) -> None:
    """Every weight of the grid names a facility type of the scenario."""
    for p in points:
        if p.weights is None:
            continue
        for type_id, _ in p.weights:
            if type_id not in base.catalogue:
                close = difflib.get_close_matches(type_id, list(base.catalogue), n=1)
                raise ConfigError(
                    f"weight for {type_id!r}, which is not a facility type of scenario {base.name!r}",
                    field="--weights",
                    hint=(f"did you mean {close[0]!r}? " if close else "") + f"types: {', '.join(base.catalogue)}",
                )


def _point_scenarios(
    points: Sequence[SweepPoint],
    base: Scenario,
    digests: dict[str, str],
    *,
    scale_caps: bool,
    time_limit: float | None,
    mip_gap: float | None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Each point's scenario changes and hash, checking that the scenario takes every point."""
    changes: list[dict[str, Any]] = []
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
    return changes, hashes


def _read_finished(points: Sequence[SweepPoint], hashes: list[str], points_dir: Path) -> dict[int, dict[str, Any]]:
    """The points of an earlier run already in ``points_dir``, by point index."""
    finished: dict[int, dict[str, Any]] = {}
    for p, h in zip(points, hashes, strict=False):
        data = _read_point(points_dir, h)
        if data is not None:
            finished[p.index] = data
    return finished


def _make_points_dir(points_dir: Path, out: Path) -> None:
    """Create the folder of finished points (with ``out``, the output folder named in the error)."""
    try:
        points_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_create_output(exc, out) from None


def _solve_here(
    base: Scenario, todo: dict[str, SweepPoint], changes: list[dict[str, Any]], rec: _Records, progress: Progress
) -> None:
    """Solve the points one after another in this process, without Dask."""
    for h, p in todo.items():
        rec.keep(p, solve_point(base, changes[p.index]))
        row = rec.records[h]["row"]
        progress("point", {"point": p, "status": row.get("status"), "message": row.get("message", "")})


def _table_rows(
    points: Sequence[SweepPoint], hashes: list[str], finished: dict[int, dict[str, Any]], rec: _Records
) -> list[dict[str, Any]]:
    """One row per grid point in grid order: from an earlier run, this run, or marked failed."""
    rows = []
    for p, h in zip(points, hashes, strict=False):
        data = finished.get(p.index) or rec.records.get(h)
        row = (
            dict(data["row"]) if data is not None else {"status": "failed", "message": rec.failed.get(h, "not solved")}
        )
        # Identity columns come from this grid, not the file: one hash may
        # carry different labels (the scenario's weights spelled out).
        row.update(point=p.index, budget=p.budget, objective=p.objective, weights=p.weights_label, hash=h)
        rows.append(row)
    return rows


def _sweep_meta(
    base: Scenario,
    points: Sequence[SweepPoint],
    changes: list[dict[str, Any]],
    digests: dict[str, str],
    df: pd.DataFrame,
    *,
    scale_caps: bool,
    elapsed: float,
    cluster: _Cluster | None,
) -> dict[str, Any]:
    """What ``sweep.json`` records about the run."""
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "scenario": {
            "name": base.name,
            "title": base.title,
            "source": str(base.source_path) if base.source_path else None,
        },
        "scenario_fingerprint": base.fingerprint(),
        "inputs": digests,
        "grid": {
            "budgets": sorted({p.budget for p in points}),
            "objectives": list(dict.fromkeys(p.objective for p in points)),
            "weights": list(dict.fromkeys(p.weights_label for p in points)),
            "points": len(points),
        },
        "solver": {
            **base.solver.model_dump(mode="json"),
            **{k.split(".", 1)[1]: v for k, v in changes[0].items() if k.startswith("solver.")},
        },
        "scale_caps": scale_caps,
        "skipped": df.attrs["skipped"],
        "solved": df.attrs["solved"],
        "failed": df.attrs["failed"],
        "seconds": round(elapsed, 3),
        "cluster": cluster.kind if cluster is not None else "this process",
        "versions": package_versions(),
        "command": sys.argv,
    }


def sweep(
    config: str | Path | Scenario | None = None,
    *,
    budgets: str | Sequence[float] | None = None,
    objectives: str | Sequence[str] | None = None,
    weights: Sequence[str | dict | None] | None = None,
    client: Client | None = None,
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

    t_start = time.perf_counter()
    # Options first: a typo should fail in a second, not after loading a province.
    workers = _check_options(workers, client, scheduler, time_limit, mip_gap)
    expand_grid(
        budgets if budgets is not None else [1.0],
        objectives if objectives is not None else ["coverage"],
        list(weights) if weights else None,
    )

    base, path = _load_base(config)
    if budgets is None:
        budgets = [float(base.budget.total) * f for f in np.linspace(0.2, 2.0, 10)]
    if objectives is None:
        objectives = [base.objective.kind]
    points = expand_grid(budgets, objectives, list(weights) if weights else None)

    # Check every point against the scenario now, so a bad grid fails before
    # any solving, with the option at fault named.
    _check_weight_types(points, base)
    # A scenario handed over in memory is identified by its data, not by
    # files it may have been loaded from and changed since.
    digests = input_digests(base) if path is not None else {"region (in memory)": _region_digest(base)}
    changes, hashes = _point_scenarios(
        points, base, digests, scale_caps=scale_caps, time_limit=time_limit, mip_gap=mip_gap
    )

    out = None
    points_dir = None
    if write:
        out = check_output_dir(Path(out_dir) if out_dir else default_output_dir(base, "-sweep"), input_files(base))
        points_dir = out / "points"

    finished = _read_finished(points, hashes, points_dir) if points_dir is not None and not force else {}
    todo = [p for p in points if p.index not in finished]
    # The same point twice in a grid (e.g. identical weight sets spelled
    # differently) is solved once.
    unique_todo: dict[str, SweepPoint] = {}
    for p in todo:
        unique_todo.setdefault(hashes[p.index], p)

    rec = _Records(base, hashes, changes, digests, points_dir)
    cluster = None
    dashboard = None
    try:
        if unique_todo and (workers > 0 or client is not None or scheduler):
            cluster = _Cluster(client=client, scheduler=scheduler, workers=workers or 1)
            dashboard = cluster.dashboard
        if out is not None and points_dir is not None:
            # Created once the cluster runs: a cluster that cannot start leaves no folder behind.
            _make_points_dir(points_dir, out)
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
            _solve_here(base, unique_todo, changes, rec, progress)
        elif unique_todo and cluster is not None:
            source = path if path is not None and not ship_scenario else base
            _run_on_dask(cluster.client, unique_todo, changes, source, digests, hashes, rec.keep, rec.failed, progress)
    finally:
        if cluster is not None:
            cluster.close()

    df = finalize_table(_table_rows(points, hashes, finished, rec))
    elapsed = time.perf_counter() - t_start
    df.attrs.update(
        out_dir=str(out) if out else None,
        skipped=len(points) - len(todo),
        solved=len(rec.records),
        failed=len(rec.failed),
        dashboard=dashboard,
        seconds=elapsed,
    )
    if out is not None:
        meta = _sweep_meta(base, points, changes, digests, df, scale_caps=scale_caps, elapsed=elapsed, cluster=cluster)
        df.attrs["files"] = [str(p) for p in write_sweep_outputs(df, out, meta, plots=plots)]
    progress("done", {"table": df})
    return df


def _run_on_dask(
    client: Client,
    todo: dict[str, SweepPoint],
    changes: list[dict[str, Any]],
    source: Path | Scenario,
    digests: dict[str, str],
    hashes: list[str],
    keep: Callable[[SweepPoint, dict[str, Any]], None],
    failed: dict[str, str],
    progress: Progress,
) -> None:
    """Submit the points, record each as it completes, cancel the rest on interrupt."""
    as_completed = _import_distributed().as_completed

    # One copy per worker instead of one per task.
    shipped = str(source) if isinstance(source, (str, Path)) else client.scatter(source, broadcast=True, hash=False)
    futures = {}
    for h, p in todo.items():
        # Key by the point hash: the task is pure, so a resubmitted point (a
        # second sweep on the same cluster) can reuse a result still held.
        # No retries=: a lost worker's tasks are rerun by the scheduler
        # anyway; an exception is deterministic and would only repeat.
        fut = client.submit(
            solve_point,
            shipped,
            changes[p.index],
            digests if isinstance(shipped, str) else None,
            key=f"regionopt-sweep-{h}",
            pure=False,
        )
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
                progress(
                    "point", {"point": p, "status": rec["row"].get("status"), "message": rec["row"].get("message", "")}
                )
            fut.release()
    finally:
        if futures:
            client.cancel(list(futures))
