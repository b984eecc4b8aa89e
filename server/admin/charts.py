"""Server-side SVG charts drawn with integer maths (no floats, no JavaScript).

Values are integers (fen, basis points); coordinates are integer pixels
computed with floor division, so the same data always draws the same SVG.
"""
from __future__ import annotations

from markupsafe import Markup, escape

PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 8, 8, 18, 34


def _scale(value: int, top: int, span: int) -> int:
    """``value`` of ``top`` as a length out of ``span`` pixels, half-up, never negative."""
    if top <= 0 or value <= 0:
        return 0
    return min(span, (value * span * 2 + top) // (2 * top))


def bar_chart(bars: list[tuple[str, int, str]], *, width: int = 480, height: int = 220,
              title: str = "") -> Markup:
    """Vertical bars: (label, value, value text) each; the tallest fills the plot."""
    plot_w = width - PAD_LEFT - PAD_RIGHT
    plot_h = height - PAD_TOP - PAD_BOTTOM
    base = PAD_TOP + plot_h
    top = max((v for _, v, _ in bars), default=0)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(title)}">',
             f'<line x1="{PAD_LEFT}" y1="{base}" x2="{width - PAD_RIGHT}" y2="{base}" class="axis"/>']
    if bars:
        slot = plot_w // len(bars)
        bar_w = max(4, slot * 3 // 5)
        for i, (label, value, text) in enumerate(bars):
            h = _scale(value, top, plot_h)
            x = PAD_LEFT + i * slot + (slot - bar_w) // 2
            cx = PAD_LEFT + i * slot + slot // 2
            parts.append(f'<rect class="bar" x="{x}" y="{base - h}" width="{bar_w}" height="{h}">'
                         f'<title>{escape(label)}: {escape(text)}</title></rect>')
            parts.append(f'<text class="value" x="{cx}" y="{base - h - 4}" '
                         f'text-anchor="middle">{escape(text)}</text>')
            parts.append(f'<text class="label" x="{cx}" y="{base + 16}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(points: list[tuple[str, int | None, str]], *, top: int = 10000, width: int = 640,
               height: int = 220, title: str = "") -> Markup:
    """A line over (label, value or None, value text); the y axis runs 0..``top``.

    A None value (nothing due that month) leaves a gap in the line.
    """
    plot_w = width - PAD_LEFT - PAD_RIGHT
    plot_h = height - PAD_TOP - PAD_BOTTOM
    base = PAD_TOP + plot_h
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(title)}">',
             f'<line x1="{PAD_LEFT}" y1="{base}" x2="{width - PAD_RIGHT}" y2="{base}" class="axis"/>',
             f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{width - PAD_RIGHT}" y2="{PAD_TOP}" '
             f'class="grid"/>']
    if points:
        slot = plot_w // len(points)
        segment: list[str] = []
        segments: list[list[str]] = [segment]
        for i, (label, value, text) in enumerate(points):
            cx = PAD_LEFT + i * slot + slot // 2
            parts.append(f'<text class="label" x="{cx}" y="{base + 16}" '
                         f'text-anchor="middle">{escape(label)}</text>')
            if value is None:
                segment = []
                segments.append(segment)
                continue
            cy = base - _scale(value, top, plot_h)
            segment.append(f"{cx},{cy}")
            parts.append(f'<circle class="dot" cx="{cx}" cy="{cy}" r="3">'
                         f'<title>{escape(label)}: {escape(text)}</title></circle>')
            parts.append(f'<text class="value" x="{cx}" y="{cy - 6}" '
                         f'text-anchor="middle">{escape(text)}</text>')
        for seg in segments:
            if len(seg) > 1:
                parts.append(f'<polyline class="line" points="{" ".join(seg)}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
