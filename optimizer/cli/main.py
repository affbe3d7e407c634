"""``regionopt`` command line: a thin shell over the Python API.

Every command turns a :class:`~optimizer.errors.RegionoptError` into one clear
line on stderr and exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .._version import __version__
from ..errors import RegionoptError
from ..io.atomic import Interrupted, sigterm_as_interrupt
from ..pipeline import init_folder
from ..pipeline import run as run_pipeline
from ..pipeline import validate as validate_pipeline
from .bench import bench
from .map import map_command
from .sweep import sweep_command


class _Group(click.Group):
    """Click group that reports errors cleanly instead of a traceback.

    * :class:`RegionoptError` (bad input, solver fault, unsafe output): one
      ``error: ...`` line on stderr (plus diagnosis lines), exit code 2.
    * Ctrl-C (SIGINT) / SIGTERM: ``interrupted: ...`` on stderr, exit code 130
      / 143 (128 + signal number); results are written atomically, so nothing
      partial is left and an earlier result in the same folder is unchanged.
    * Anything else is a bug in regionopt: one ``internal error`` line, exit 1.

    ``--debug`` re-raises instead, showing the traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:

        try:
            with sigterm_as_interrupt():
                return super().invoke(ctx)
        except RegionoptError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            code = 128 + exc.signum if isinstance(exc, Interrupted) else 130
            click.echo("interrupted: no partial output was written", err=True)
            sys.exit(code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug: say so in one line, keep the traceback for --debug
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(
                f"error: internal error ({type(exc).__name__}: {exc}). This is a bug in regionopt; "
                "run again with --debug and report the traceback. Nothing was written.",
                err=True,
            )
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="regionopt")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Plan where a region builds its next hospitals, schools and cultural venues."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


_STAGE_LABELS = {
    "load": "load scenario and region",
    "coverage": "compute coverage (sparse)",
    "build": "build model",
    "solve": "solve and evaluate",
    "write": "write outputs",
}


def _progress(stage: str, seconds: float | None) -> None:
    label = _STAGE_LABELS.get(stage, stage)
    if seconds is None:
        click.echo(f"  {label} ...", err=True)
    else:
        click.echo(f"  {label}: done in {seconds:.1f} s", err=True)


def _fmt_int(x: float) -> str:
    return f"{x:,.0f}"


@main.command()
@click.argument("config", required=False, type=click.Path(path_type=str))
# --out is checked by optimizer.output.check_output_dir (not by click), so that
# every unusable folder gets the same documented "error: ..." line.
@click.option("--out", "out_dir", type=click.Path(path_type=str), help="Output folder (default reports/<scenario>).")
@click.option("--no-maps", is_flag=True, help="Skip the HTML maps.")
@click.option("--no-report", is_flag=True, help="Skip the HTML report.")
def run(config: str | None, out_dir: str | None, no_maps: bool, no_report: bool) -> None:
    """Solve a scenario (default: the shipped Zhejiang one) and write maps, report and data files."""

    outcome = run_pipeline(
        config,
        out_dir=out_dir,
        maps=False if no_maps else None,
        report=False if no_report else None,
        progress=_progress,
    )
    result = outcome.result
    sc = result.scenario
    status = result.status
    if status == "optimal":
        status_text = "optimal" + (
            f" (within MIP gap {sc.solver.mip_gap:g}; gap {result.gap:.2e})" if sc.solver.mip_gap else ""
        )
    else:
        gap = f"{result.gap:.2%}" if result.gap is not None else "unknown"
        # The solver stopped early (time limit, or another work limit): say so, with its reason.
        why = getattr(result.report, "message", "") or "stopped early"
        status_text = f"{status.upper()} - NOT proven optimal ({why}); proven gap {gap}"
    click.echo(f"scenario   {sc.name}: {sc.title}")
    click.echo(f"status     {status_text}")
    click.echo(f"objective  {result.objective:,.2f} ({sc.objective.kind})")
    click.echo(
        f"budget     used {_fmt_int(result.budget_used)} of {_fmt_int(sc.budget.total)} yuan; {len(result.chosen_sites)} new facilities"
    )
    click.echo("coverage   population within the service standard, before -> after:")
    for rec in result.coverage_totals.itertuples():
        click.echo(
            f"  {rec.facility_type:<24} {_fmt_int(rec.covered_before):>12} -> {_fmt_int(rec.covered_after):>12}"
            f"  ({rec.rate_before:6.1%} -> {rec.rate_after:6.1%} of {_fmt_int(rec.population)})"
        )
    kp = result.report.extra.get("kolm_pollak") or {}
    for type_id, rec in (kp.get("by_type") or {}).items():  # kolm_pollak over travel time
        click.echo(
            f"  {type_id:<24} Kolm-Pollak EDE {rec['ede_before_min']:.1f} -> {rec['ede_after_min']:.1f} min"
            f" (mean {rec['mean_before_min']:.1f} -> {rec['mean_after_min']:.1f} min)"
        )
    std = result.standards
    if len(std):
        click.echo(
            f"standards  met before {int((std.status == 'met').sum())}, newly met {int((std.status == 'newly met').sum())}, "
            f"still not met {int((std.status == 'not met').sum())} (of {len(std)})"
        )
    if outcome.out_dir is not None:
        click.echo(f"written    {outcome.out_dir}")


@main.command()
@click.argument("config", required=False, type=click.Path(path_type=str))
@click.option("--details", is_flag=True, help="List every unmet hard standard, not a summary of ten lines.")
def validate(config: str | None, details: bool) -> None:
    """Check a scenario (default: the shipped Zhejiang one) and its data completely, without solving."""

    summary = validate_pipeline(config, progress=_progress, details=details)
    size = summary["model_size"]
    region = summary["region"]
    click.echo(f"scenario   {summary['name']}: valid")
    click.echo(
        f"region     {region['name']}: {region['demand_points']:,} demand points, population {region['population']:,}, "
        f"{region['candidate_sites']:,} candidate sites"
    )
    click.echo(
        f"model      {size['rows']:,} rows, {size['columns']:,} columns, {size['nonzeros']:,} nonzeros ({size['binaries']:,} binary)"
    )


@main.command()
@click.argument("folder", required=False, default=".", type=click.Path(path_type=str))
@click.option(
    "--no-data",
    is_flag=True,
    help="Do not copy the 5.5 MB GeoPackage; point the scenarios at the installed one instead.",
)
def init(folder: str, no_data: bool) -> None:
    """Copy the shipped Zhejiang scenarios and catalogue into FOLDER (default: here) to start your own."""

    written = init_folder(folder, copy_data=not no_data)
    for path in written:
        click.echo(f"written    {path}")
    scenario = next(p for p in written if p.name == "zhejiang.yaml")
    click.echo(f"next       regionopt validate {scenario}   then   regionopt run {scenario}")


# Subcommands that live beside the API they wrap: (module, click object name).
for _command in (bench, map_command, sweep_command):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
