"""HTML maps and report (work in progress: see issue 4)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["render_outputs"]


def render_outputs(out_dir: Path, *, result=None, maps: bool = True, report: bool = True) -> list[str]:
    """Render maps and the report into ``out_dir``; returns the files written.

    Not implemented yet: writes nothing, so no output claims to be a report.
    """
    return []
