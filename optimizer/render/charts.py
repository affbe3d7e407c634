"""Small inline SVG charts for the report."""

from __future__ import annotations

import html
from collections.abc import Callable

from .text import _num, _pct


# ----------------------------------------------------------------------------- charts (inline SVG)
def _svg_escape(text: str) -> str:

    return html.escape(str(text), quote=True)


def _svg_label(text: str, x: float, y: float, max_chars: int = 44) -> str:
    """A right-aligned row label, shortened with an ellipsis (full text in its tooltip)."""
    text = str(text)
    short = text if len(text) <= max_chars else text[: max_chars - 1] + "…"
    return f'<text x="{x:.1f}" y="{y:.1f}" class="label"><title>{_svg_escape(text)}</title>{_svg_escape(short)}</text>'


def _dumbbell_rows(
    rows: list[dict], label_width: int, row_height: int, x_of: Callable[[float], float], tip: Callable[[float], str]
) -> list[str]:
    """One ``<g class="row">`` per row: its label, and a before → after segment at ``x_of(value)``
    with ``tip(value)`` as each end's tooltip."""
    out = []
    for i, r in enumerate(rows):
        y = 28 + row_height * i + row_height / 2
        b, a = _num(r.get("before")), _num(r.get("after"))
        out.append('<g class="row">')
        out.append(_svg_label(r["label"], label_width - 6, y + 4))
        if b is not None and a is not None:
            xb, xa = x_of(b), x_of(a)
            out.append(f'<line x1="{xb:.1f}" y1="{y:.1f}" x2="{xa:.1f}" y2="{y:.1f}" class="link"/>')
            out.append(f'<circle cx="{xb:.1f}" cy="{y:.1f}" r="4.5" class="before"><title>{tip(b)}</title></circle>')
            out.append(f'<circle cx="{xa:.1f}" cy="{y:.1f}" r="4.5" class="after"><title>{tip(a)}</title></circle>')
        out.append("</g>")
    return out


def svg_dumbbell(
    rows: list[dict], *, width: int = 860, label_width: int = 330, row_height: int = 22, title: str = ""
) -> str:
    """Horizontal before → after chart of rates in [0, 1].

    ``rows``: dicts with ``label`` (text, escaped here), ``before``, ``after``
    (fractions or ``None``). Returns an ``<svg>`` string with one ``<g
    class="row">`` per row.
    """
    plot = width - label_width - 20
    height = 28 + row_height * len(rows) + 8
    out = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg">',
    ]
    if title:
        out.append(f"<title>{_svg_escape(title)}</title>")
    for k in range(0, 101, 20):
        x = label_width + plot * k / 100
        out.append(f'<line x1="{x:.1f}" y1="18" x2="{x:.1f}" y2="{height - 6}" class="grid"/>')
        out.append(f'<text x="{x:.1f}" y="12" class="tick">{k}%</text>')
    out += _dumbbell_rows(rows, label_width, row_height, lambda v: label_width + plot * v, _pct)
    out.append("</svg>")
    return "".join(out)


def svg_gap(rows: list[dict], *, width: int = 860, label_width: int = 330, row_height: int = 22) -> str:
    """Before → after chart of gaps (rest rate − group rate) in percentage points, centred on 0."""
    values = [abs(v) for r in rows for v in (_num(r.get("before")), _num(r.get("after"))) if v is not None]
    span = max([0.05] + values) * 1.1
    plot = width - label_width - 20
    zero = label_width + plot / 2
    height = 28 + row_height * len(rows) + 8
    out = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for frac in (-1, -0.5, 0, 0.5, 1):
        x = zero + plot / 2 * frac
        out.append(
            f'<line x1="{x:.1f}" y1="18" x2="{x:.1f}" y2="{height - 6}" class="{"zero" if frac == 0 else "grid"}"/>'
        )
        out.append(f'<text x="{x:.1f}" y="12" class="tick">{span * frac * 100:+.0f}</text>')
    out += _dumbbell_rows(
        rows, label_width, row_height, lambda v: zero + plot / 2 * v / span, lambda v: f"{v * 100:+.1f} pp"
    )
    out.append("</svg>")
    return "".join(out)
