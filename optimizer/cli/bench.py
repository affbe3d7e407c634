"""`regionopt bench`: classic models on OR-Library and SJC files."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..bench.orlib import read_cap
from ..bench.runner import _check_options, _optima, run_cap, run_pmed, run_sjc

_F = TypeVar("_F", bound=Callable[..., Any])


def _common(func: _F) -> _F:
    func = click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of a table.")(func)
    func = click.option(
        "--optima", type=click.Path(dir_okay=False), help="CSV of known optima (columns instance, optimal, …)."
    )(func)
    func = click.option("--time-limit", type=float, default=None, help="Solver time limit per instance (s).")(func)
    func = click.option("--solver", type=click.Choice(["highs", "cbc"]), default="highs", show_default=True)(func)
    return func


@click.group("bench")
def bench() -> None:
    """Solve published facility-location benchmarks and compare with their optima."""


@bench.command("orlib-pmed")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_common
def orlib_pmed(
    files: tuple[str, ...], solver: str, time_limit: float | None, optima: str | None, as_json: bool
) -> None:
    """OR-Library p-median files (pmed1.txt …)."""
    _check_options(files, time_limit=time_limit)
    table = _optima(optima)
    out = _Printer(as_json)
    for f in files:
        out.add(run_pmed(f, solver=solver, time_limit=time_limit, optima=table))
    out.finish()


@bench.command("orlib-cap")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--capacity",
    type=float,
    multiple=True,
    help="Capacity for files whose capacity field is the word 'capacity' (capa/b/c); repeat for variants.",
)
@click.option("--uncapacitated", is_flag=True, help="Solve the UFLP (capacities ignored).")
@_common
def orlib_cap(
    files: tuple[str, ...],
    capacity: tuple[float, ...],
    uncapacitated: bool,
    solver: str,
    time_limit: float | None,
    optima: str | None,
    as_json: bool,
) -> None:
    """OR-Library warehouse-location files (cap41.txt …, capa.txt …), multi-source."""

    _check_options(files, time_limit=time_limit, capacities=capacity)
    table = _optima(optima)
    out = _Printer(as_json)
    for f in files:
        variants: list[float | None] = [None]
        # Only files with the literal word take variants; numeric files run once.
        if capacity and not uncapacitated and read_cap(f, capacity=capacity[0]).capacity_word:
            variants = list(capacity)
        for cap in variants:
            out.add(
                run_cap(
                    f, capacity=cap, uncapacitated=uncapacitated, solver=solver, time_limit=time_limit, optima=table
                )
            )
    out.finish()


@bench.command("sjc")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--p", "p", type=int, required=True, help="Number of facilities.")
@click.option("--radius", type=float, required=True, help="Coverage radius S (metres).")
@_common
def sjc(
    file: str, p: int, radius: float, solver: str, time_limit: float | None, optima: str | None, as_json: bool
) -> None:
    """A São José dos Campos MCLP file."""
    _check_options([file], time_limit=time_limit)
    out = _Printer(as_json)
    out.add(run_sjc(file, p=p, radius=radius, solver=solver, time_limit=time_limit, optima=_optima(optima)))
    out.finish()


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
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.rows: list[dict[str, Any]] = []
        self.header_done = False

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if self.as_json:
            click.echo(json.dumps(row, default=float))
            return
        widths = (22, 16, 16, 11, 10, 9, 9)
        if not self.header_done:
            click.echo("  ".join(c.ljust(w) for c, w in zip(_COLUMNS, widths, strict=False)).rstrip())
            self.header_done = True
        cells = [_fmt(row.get(c)) for c in _COLUMNS]
        mark = {True: "", False: "  MISMATCH", None: ""}[row.get("match")]
        click.echo("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip() + mark)

    def finish(self) -> None:
        if not self.as_json and self.rows:
            total = sum(r["seconds"] for r in self.rows)
            known = [r for r in self.rows if r.get("match") is not None]
            ok = sum(1 for r in known if r["match"])
            click.echo(
                f"{len(self.rows)} instance(s), {total:.1f} s in total; {ok}/{len(known)} equal to the known optimum"
            )
        if any(r.get("match") is False for r in self.rows):
            raise SystemExit(1)
