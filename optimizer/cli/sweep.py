"""`regionopt sweep`."""

from __future__ import annotations

import sys
from typing import Any

import click
import pandas as pd

from ..sweeps.run import sweep
from ..sweeps.table import _not_monotone


# =============================================================================== CLI
@click.command(name="sweep")
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--budgets",
    default=None,
    metavar="SPEC",
    help="start:stop:count (inclusive) or a comma list, in yuan [default: 10 budgets from 0.2x to 2x the scenario's].",
)
@click.option(
    "--objectives",
    default=None,
    metavar="LIST",
    help="Comma list of coverage, equity, min_cost, access, attendance, leximin, kolm_pollak, kolm_pollak_time "
    "(kolm_pollak over travel time) [default: the scenario's].",
)
@click.option(
    "--weights",
    "weights",
    multiple=True,
    metavar="SET",
    help="A weight set 'library=2,museum=1' (unnamed types weigh 1); repeat for more; 'scenario' = the scenario's own.",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=int,
    help="LocalCluster worker processes; 0 = no Dask, solve here one by one.",
)
@click.option(
    "--scheduler", default=None, metavar="ADDRESS", help="Use a running Dask cluster, e.g. tcp://127.0.0.1:8786."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=str),
    help="Output folder [default: reports/<scenario>-sweep].",
)
@click.option("--time-limit", type=float, default=None, help="Override solver.time_limit (seconds) for every point.")
@click.option(
    "--mip-gap", type=float, default=None, help="Override solver.mip_gap for every point (0 = prove optimality)."
)
@click.option("--scale-caps", is_flag=True, help="Scale per-family and per-unit budget caps with the budget.")
@click.option("--force", is_flag=True, help="Solve finished points again.")
@click.option(
    "--ship-scenario",
    is_flag=True,
    help="Send the scenario to the workers instead of its path (workers without this machine's files).",
)
@click.option("--no-plots", is_flag=True, help="Skip sweep.html and the PNG plots.")
def sweep_command(
    config: str | None,
    budgets: str | None,
    objectives: str | None,
    weights: tuple[str, ...],
    workers: int,
    scheduler: str | None,
    out_dir: str | None,
    time_limit: float | None,
    mip_gap: float | None,
    scale_caps: bool,
    force: bool,
    ship_scenario: bool,
    no_plots: bool,
) -> None:
    """Solve a scenario over a grid of budgets, objectives and weights, in parallel on Dask.

    Writes one JSON file per point as it finishes (a rerun skips finished
    points), then sweep.csv, sweep.parquet, sweep.html and PNG plots.
    """
    err = sys.stderr
    state: dict[str, Any] = {"bar": None, "done": 0}

    def progress(event: str, info: dict[str, Any]) -> None:
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
                click.echo(
                    f"\n  point {info['point'].line} at {info['point'].budget:,.0f}: {info['status']}"
                    f" {info.get('message', '')}",
                    err=True,
                )
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
        click.echo(
            f"warning    {len(bad)} row(s) not monotone in the budget (within the MIP gap); rerun with --mip-gap 0",
            err=True,
        )
    click.echo(f"written    {df.attrs['out_dir']} (sweep.csv, sweep.parquet, sweep.html, points/)")
    unsolved = int(df["status"].isin(["error", "failed"]).sum())
    if unsolved:
        click.echo(
            f"error: {unsolved} point(s) could not be solved (see the message column of sweep.csv); "
            "rerun to retry them",
            err=True,
        )
        sys.exit(1)


def _print_table(df: pd.DataFrame) -> None:
    cols = [
        "budget",
        "objective",
        "weights",
        "status",
        "covered_total",
        "min_unit_rate",
        "marginal_per_1e8",
        "monotone_ok",
    ]
    view = df[[c for c in cols if c in df]].copy()
    for c in ("budget", "covered_total", "marginal_per_1e8"):
        if c in view:
            view[c] = view[c].map(lambda x: "" if pd.isna(x) else f"{x:,.0f}")
    if "min_unit_rate" in view:
        view["min_unit_rate"] = view["min_unit_rate"].map(lambda x: "" if pd.isna(x) else f"{x:.1%}")
    click.echo(view.to_string(index=False))
