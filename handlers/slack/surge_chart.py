"""The alert card's chart image: messages per hour over time against the normal rate, as a small PNG.

Pure and deterministic: the same history, rate and translator give the same bytes (Pillow writes no
timestamp into a PNG), so the image can be tested and the upload skipped when nothing changed.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime

from babel.dates import format_datetime
from babel.numbers import format_decimal
from PIL import Image, ImageDraw, ImageFont

from bot.i18n import Translator

WIDTH, HEIGHT = 600, 200
SCALE = 2  # drawn at twice the size and scaled down: smooth lines without antialiasing support
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 30, 24
FONT_SIZE = 12

BACKGROUND = (255, 255, 255)
GRID = (230, 230, 230)
AXIS = (150, 150, 150)
TEXT = (70, 70, 70)
RATE = (224, 30, 90)
FILL = (251, 220, 230)
NORMAL = (40, 40, 40)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def rate_chart(history: Sequence[tuple[datetime, float]], expected: float, t: Translator) -> bytes:
    """A PNG of the rate (messages/hour) at each point of `history`, with `expected` as a dashed line."""
    points = sorted((_aware(at), _clean(rate)) for at, rate in history)
    normal = _clean(expected)
    image = Image.new("RGB", (WIDTH * SCALE, HEIGHT * SCALE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font(FONT_SIZE * SCALE)
    left, right = LEFT * SCALE, (WIDTH - RIGHT) * SCALE
    top, bottom = TOP * SCALE, (HEIGHT - BOTTOM) * SCALE
    peak = _nice(max([normal, *(rate for _, rate in points), 1.0]) * 1.1)

    def y(rate: float) -> float:
        return bottom - (bottom - top) * min(rate, peak) / peak

    for tick in (0.0, peak / 2, peak):  # grid and rate labels
        draw.line([(left, y(tick)), (right, y(tick))], fill=GRID, width=SCALE)
        label = t("surge.chart_rate", rate=_number(tick, t.locale))
        draw.text((left - 6 * SCALE, y(tick)), label, fill=TEXT, font=font, anchor="rm")
    draw.line([(left, top), (left, bottom), (right, bottom)], fill=AXIS, width=SCALE)

    if points:
        first, last = points[0][0], points[-1][0]
        span = (last - first).total_seconds()

        def x(at: datetime) -> float:
            if span <= 0:
                return (left + right) / 2
            return left + (right - left) * (at - first).total_seconds() / span

        line = [(x(at), y(rate)) for at, rate in points]
        if len(line) > 1:
            draw.polygon([(line[0][0], bottom), *line, (line[-1][0], bottom)], fill=FILL)
            draw.line(line, fill=RATE, width=2 * SCALE, joint="curve")
        else:
            (cx, cy), r = line[0], 4 * SCALE
            draw.line([(cx, bottom), (cx, cy)], fill=FILL, width=6 * SCALE)
            draw.ellipse([(cx - r, cy - r), (cx + r, cy + r)], fill=RATE)
        for at, anchor, pos in _time_labels(first, last, left, right):
            draw.text((pos, bottom + 6 * SCALE), _clock(at, first, last, t), fill=TEXT, font=font,
                      anchor=anchor)

    _dashed(draw, left, right, y(normal), NORMAL)
    _legend(draw, font, t, now=points[-1][1] if points else None, normal=normal, right=right)
    small = image.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _legend(draw: ImageDraw.ImageDraw, font: Font, t: Translator, *, now: float | None, normal: float,
            right: float) -> None:
    """Top right: the dashed normal, and the rate now in the line's colour."""
    middle = TOP * SCALE / 2
    x = right
    items = [(t("surge.chart_normal", rate=_number(normal, t.locale)), NORMAL, True)]
    if now is not None:
        items.append((t("surge.chart_now", rate=_number(now, t.locale)), RATE, False))
    for text, colour, dashed in items:
        draw.text((x, middle), text, fill=TEXT, font=font, anchor="rm")
        x -= draw.textlength(text, font=font) + 6 * SCALE
        if dashed:
            _dashed(draw, x - 22 * SCALE, x, middle, colour)
        else:
            draw.line([(x - 22 * SCALE, middle), (x, middle)], fill=colour, width=2 * SCALE)
        x -= 22 * SCALE + 16 * SCALE


Colour = tuple[int, int, int]


def _dashed(draw: ImageDraw.ImageDraw, start: float, end: float, y: float, colour: Colour) -> None:
    dash, gap = 7 * SCALE, 5 * SCALE
    x = start
    while x < end:
        draw.line([(x, y), (min(x + dash, end), y)], fill=colour, width=2 * SCALE)
        x += dash + gap


def _time_labels(
    first: datetime, last: datetime, left: float, right: float
) -> list[tuple[datetime, str, float]]:
    """Where to write times under the axis: the first and last point, and the middle on a long span."""
    if first == last:
        return [(first, "mt", (left + right) / 2)]
    labels = [(first, "lt", left), (last, "rt", right)]
    if right - left > 400 * SCALE:
        labels.append((first + (last - first) / 2, "mt", (left + right) / 2))
    return labels


def _clock(at: datetime, first: datetime, last: datetime, t: Translator) -> str:
    """A local time; with the day too when the chart spans more than one day."""
    local = at.astimezone(t.tz)
    same_day = first.astimezone(t.tz).date() == last.astimezone(t.tz).date()
    return format_datetime(local, "HH:mm" if same_day else "d MMM HH:mm", locale=t.locale)


def _number(value: float, locale: str) -> str:
    """A rate as people read it: decimals only below 10, whole numbers above."""
    return format_decimal(round(value, 2) if value < 10 else round(value), format="#,##0.##", locale=locale)


def _nice(value: float) -> float:
    """The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) at or above `value`."""
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if step * power >= value)


def _clean(rate: float) -> float:
    rate = float(rate)
    return rate if math.isfinite(rate) and rate > 0 else 0.0


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _font(size: int) -> Font:
    return ImageFont.load_default(size)
