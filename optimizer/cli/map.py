"""`regionopt map`: re-draw maps and report of a saved result folder."""

from __future__ import annotations

from pathlib import Path

import click

from ..render.report import rerender


@click.command("map")
@click.argument("result_dir", type=click.Path(path_type=Path))
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    help="Default language of maps and report (default: the scenario's).",
)
@click.option(
    "--basemap",
    type=click.Choice(["none", "osm", "amap", "tianditu"]),
    default=None,
    help="Background tiles (default none: works offline). amap shifts every layer to GCJ-02; tianditu needs a key.",
)
@click.option(
    "--tianditu-key",
    default=None,
    envvar="TIANDITU_KEY",
    show_envvar=True,
    help="Tianditu user key (for --basemap tianditu).",
)
@click.option("--no-maps", is_flag=True, help="Only re-render the report.")
@click.option("--no-report", is_flag=True, help="Only re-render the maps.")
def map_command(
    result_dir: Path, lang: str | None, basemap: str | None, tianditu_key: str | None, no_maps: bool, no_report: bool
) -> None:
    """Re-draw the maps and the report of a saved result folder (no solving)."""
    written = rerender(
        result_dir, maps=not no_maps, report=not no_report, lang=lang, basemap=basemap, tianditu_key=tianditu_key
    )
    pages = [w for w in written if w.endswith(".html")]
    click.echo(f"written    {', '.join(pages)} in {result_dir}")
