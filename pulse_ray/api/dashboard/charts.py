"""Charts drawn on the server as inline SVG: no JavaScript, nothing the
Content-Security-Policy has to allow, and they print. Colours come from CSS classes
(``series-0``…), so there is no inline style either."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

__all__ = ["bars", "lines", "shares"]

_W, _H, _PAD = 360, 150, 36


def _scale(lo: float, hi: float) -> tuple[float, float]:
    return (lo, hi) if hi > lo else (lo - 1, hi + 1)


def lines(series: Sequence[tuple[str, Sequence[float]]], *, title: str) -> Markup:
    """One polyline per (name, values) over a shared x (the index: epochs) and a shared
    y: give series of one scale (the run page draws one chart per metric)."""
    drawn = [(name, list(values)) for name, values in series if values]
    if not drawn:
        return Markup('<p class="muted">No points yet.</p>')
    count = max(len(v) for _, v in drawn)
    lo, hi = _scale(min(min(v) for _, v in drawn), max(max(v) for _, v in drawn))

    def x(i: int) -> float:
        return _PAD + (i * (_W - 2 * _PAD) / max(count - 1, 1))

    def y(value: float) -> float:
        return _H - _PAD + (value - lo) * -(_H - 2 * _PAD) / (hi - lo)

    parts = [f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<line class="axis" x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" '
             f'y2="{_H - _PAD}"/>',
             f'<text class="tick" x="2" y="{_PAD}">{hi:.3g}</text>',
             f'<text class="tick" x="2" y="{_H - _PAD}">{lo:.3g}</text>',
             f'<text class="tick" x="{_PAD}" y="{_H - 10}">1</text>',
             f'<text class="tick" x="{_W - _PAD - 10}" y="{_H - 10}">{count}</text>']
    for index, (name, values) in enumerate(drawn):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline class="line series-{index % 6}" points="{points}"/>')
        parts.append(f'<text class="legend series-{index % 6}" x="{_PAD + index * 130}" '
                     f'y="16">{escape(name)}: {values[-1]:.4g}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(values: Sequence[int], *, title: str, width: int = 240, height: int = 40) -> Markup:
    """A small bar chart (requests per minute over the last hour), oldest first."""
    if not values:
        return Markup("")
    top = max(max(values), 1)
    step = width / len(values)
    parts = [f'<svg class="spark" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for i, value in enumerate(values):
        h = height * value / top
        parts.append(f'<rect class="bar" x="{i * step:.1f}" y="{height - h:.1f}" '
                     f'width="{max(step - 1, 1):.1f}" height="{h:.1f}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def shares(parts: Sequence[tuple[str, float]], *, title: str, width: int = 360) -> Markup:
    """One labelled horizontal bar per (name, share of 1), in the order given (the shop
    page's persona mix)."""
    if not parts:
        return Markup("")
    row, label = 22, 130
    parts_svg = [f'<svg class="shares" viewBox="0 0 {width} {row * len(parts)}" role="img" '
                 f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for i, (name, share) in enumerate(parts):
        y = i * row
        parts_svg.append(f'<text class="tick" x="0" y="{y + 15}">{escape(name)}</text>')
        parts_svg.append(f'<rect class="bar" x="{label}" y="{y + 4}" '
                         f'width="{(width - label - 50) * share:.1f}" height="{row - 8}"/>')
        parts_svg.append(f'<text class="tick" x="{width - 44}" y="{y + 15}">'
                         f'{100 * share:.0f}%</text>')
    parts_svg.append("</svg>")
    return Markup("".join(parts_svg))
