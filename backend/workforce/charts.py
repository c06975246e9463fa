"""Chart geometry for the dashboard: plain numbers in, shapes out (rectangles, paths, labels).

The templates draw these as inline SVG on the server: no JavaScript, no chart library, nothing
fetched at run time, and the Content-Security-Policy stays `'self'` only (SVG presentation
attributes are not inline styles). Pure functions, no database.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from dataclasses import dataclass, field


@dataclass
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str = ""
    value: float | int | None = None
    title: str = ""


@dataclass
class Label:
    x: float
    y: float
    text: str
    css: str = ""
    anchor: str = "middle"


@dataclass
class Chart:
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    lines: list[tuple[float, float, float, float, str]] = field(default_factory=list)  # x1, y1, x2, y2, css
    paths: list[tuple[str, str]] = field(default_factory=list)  # d, css
    dots: list[tuple[float, float, str, str]] = field(default_factory=list)  # cx, cy, css, title
    legend: list[tuple[str, str]] = field(default_factory=list)  # css, text
    data: dict = field(default_factory=dict)  # data-* attributes of the <svg>


def nice_max(value: float, ticks: int = 4) -> float:
    """A round axis maximum ≥ value that `ticks` equal steps divide into round numbers (steps of
    1, 2, 2.5 or 5 × 10^n; whole steps of at least 1 for counts)."""
    if value <= 0:
        return ticks
    raw = value / ticks
    exponent = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        size = step * exponent
        if size >= raw and (size >= 1 and float(size).is_integer()):
            return size * ticks
    return max(1.0, 10 * exponent) * ticks


def wrap(text: str, width: float) -> list[str]:
    """A label in at most two lines that fit `width` pixels (Hangul is about twice as wide)."""
    def size(part: str) -> float:
        return sum(12 if ord(ch) > 0x2E80 else 6.6 for ch in part)

    if size(text) <= width or " " not in text:
        return [text]
    words, first = text.split(" "), ""
    while words and size(f"{first} {words[0]}".strip()) <= width:
        first = f"{first} {words.pop(0)}".strip()
    if not first:
        first = words.pop(0)
    return [first, " ".join(words)] if words else [first]


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or float(value).is_integer() else f"{value:,.1f}"


def _y_axis(chart: Chart, top: float, bottom: float, left: float, right: float, maximum: float,
            ticks: int = 4) -> None:
    for i in range(ticks + 1):
        value = maximum * i / ticks
        y = bottom - (bottom - top) * i / ticks
        chart.lines.append((left, y, right, y, "grid"))
        chart.labels.append(Label(left - 6, y + 4, _fmt(value), "tick", "end"))


def stacked_levels(skills: list[dict], level_names: dict[int, str]) -> Chart:
    """Workers per level (1…max) stacked per skill: [{label, levels: {level: workers}, uncertified}]."""
    chart = Chart(width=600, height=300)
    left, right, top, bottom = 48, 590, 16, 220
    maximum = nice_max(max((sum(s["levels"].values()) for s in skills), default=0))
    _y_axis(chart, top, bottom, left, right, maximum)
    slot = (right - left) / max(1, len(skills))
    bar = min(64, slot * 0.55)
    for index, skill in enumerate(skills):
        x = left + slot * index + (slot - bar) / 2
        y = bottom
        for level in sorted(skill["levels"]):
            count = skill["levels"][level]
            height = (bottom - top) * count / maximum
            y -= height
            chart.rects.append(Rect(x, y, bar, height, f"bar level-{level}", count,
                                    f"{skill['label']} · {level_names[level]}: {count:,}"))
        total = sum(skill["levels"].values())
        chart.labels.append(Label(x + bar / 2, y - 5, f"{total:,}", "value"))
        lines = wrap(skill["label"], slot - 6)
        for number, line in enumerate(lines):
            chart.labels.append(Label(x + bar / 2, bottom + 18 + 15 * number, line, "axis"))
        chart.labels.append(Label(x + bar / 2, bottom + 20 + 15 * len(lines), skill["uncertified_label"], "note"))
    levels = sorted({level for skill in skills for level in skill["levels"]})
    chart.legend = [(f"level-{level}", level_names[level]) for level in levels]
    chart.data = {"chart": "levels", "bars": sum(1 for r in chart.rects if r.value)}
    return chart


def funnel(stages: list[dict]) -> Chart:
    """Horizontal bars, one per stage: [{label, count, conversion_label}] (the first is 100 %)."""
    row = 34
    chart = Chart(width=600, height=row * len(stages) + 10)
    left, right = 150, 470
    first = max(1, stages[0]["count"]) if stages else 1
    for index, stage in enumerate(stages):
        y = 6 + index * row
        width = (right - left) * stage["count"] / first
        chart.labels.append(Label(left - 8, y + 17, stage["label"], "axis", "end"))
        chart.rects.append(Rect(left, y, max(width, 1 if stage["count"] else 0), 24, f"bar stage-{index}",
                                stage["count"], f"{stage['label']}: {stage['count']:,}"))
        chart.labels.append(Label(right + 8, y + 17, f"{stage['count']:,}", "value", "start"))
        chart.labels.append(Label(right + 64, y + 17, stage["conversion_label"], "note", "start"))
    chart.data = {"chart": "funnel", "bars": sum(1 for r in chart.rects if r.value)}
    return chart


def histogram(bins: list[dict], x_label) -> Chart:
    """Vertical bars: [{from, to, workers}] of shares (0…1)."""
    chart = Chart(width=420, height=230)
    left, right, top, bottom = 44, 410, 14, 190
    maximum = nice_max(max((b["workers"] for b in bins), default=0))
    _y_axis(chart, top, bottom, left, right, maximum)
    slot = (right - left) / max(1, len(bins))
    for index, item in enumerate(bins):
        height = (bottom - top) * item["workers"] / maximum
        x = left + slot * index + 1
        chart.rects.append(Rect(x, bottom - height, slot - 2, height, "bar accuracy", item["workers"],
                                f"{item['from']:.0%}–{item['to']:.0%}: {item['workers']:,}"))
        chart.labels.append(Label(left + slot * index, bottom + 16, f"{item['from']:.0%}", "tick"))
    chart.labels.append(Label(right, bottom + 16, "100%", "tick"))
    chart.labels.append(Label((left + right) / 2, bottom + 36, x_label, "note"))
    chart.data = {"chart": "accuracy", "bars": sum(1 for r in chart.rects if r.value),
                  "workers": sum(b["workers"] for b in bins)}
    return chart


def hourly(series: list[dict], timezone: str) -> Chart:
    """Answers per hour: [{hour (UTC), answers}] oldest first; day ticks in the viewer's timezone."""
    chart = Chart(width=760, height=220)
    left, right, top, bottom = 48, 750, 14, 186
    zone = zoneinfo.ZoneInfo(timezone)
    maximum = nice_max(max((item["answers"] for item in series), default=0))
    _y_axis(chart, top, bottom, left, right, maximum)
    step = (right - left) / max(1, len(series))
    points = []
    for index, item in enumerate(series):
        x = left + step * index
        height = (bottom - top) * item["answers"] / maximum
        points.append((x + step / 2, bottom - height))
        if item["answers"]:
            local = item["hour"].astimezone(zone)
            chart.rects.append(Rect(x, bottom - height, max(step - 0.4, 0.6), height, "bar hour", item["answers"],
                                    f"{local:%m-%d %H:00}: {item['answers']:,}"))
        local = item["hour"].astimezone(zone)
        if local.hour == 0:
            chart.lines.append((x, bottom, x, bottom + 5, "axis-line"))
            chart.labels.append(Label(x + 12 * step, bottom + 18, f"{local:%m/%d}", "tick"))
    if points:
        chart.paths.append(("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points), "trend"))
    chart.lines.append((left, bottom, right, bottom, "axis-line"))
    chart.data = {"chart": "throughput", "bars": len(chart.rects),
                  "answers": sum(item["answers"] for item in series)}
    return chart


def progress(done: int, total: int, width: int = 160) -> Chart:
    """A progress bar: done of total."""
    chart = Chart(width=width, height=12)
    share = done / total if total else 0
    chart.rects.append(Rect(0, 0, width, 12, "track"))
    chart.rects.append(Rect(0, 0, width * share, 12, "bar done", done, f"{share:.0%}"))
    chart.data = {"chart": "progress", "share": round(share, 4)}
    return chart


def interval(rate: float | None, low: float | None, high: float | None, width: int = 220) -> Chart:
    """A share on a 0–100 % scale with its confidence interval as a band."""
    chart = Chart(width=width, height=22)
    chart.rects.append(Rect(0, 8, width, 6, "track"))
    if rate is not None and low is not None and high is not None:
        chart.rects.append(Rect(width * low, 5, max(width * (high - low), 1), 12, "band", round(high - low, 4),
                                f"{low:.0%}–{high:.0%}"))
        chart.dots.append((width * rate, 11, "point", f"{rate:.1%}"))
    chart.data = {"chart": "interval"}
    return chart


def level_steps(events: list[dict], start: dt.datetime, end: dt.datetime, max_level: int,
                timezone: str) -> Chart:
    """A worker's level in one skill over time, as steps: events [{at, level, title}] oldest first."""
    chart = Chart(width=520, height=130)
    left, right, top, bottom = 30, 510, 10, 104
    zone = zoneinfo.ZoneInfo(timezone)
    span = max((end - start).total_seconds(), 1)

    def x_of(moment: dt.datetime) -> float:
        return left + (right - left) * max(0.0, (moment - start).total_seconds()) / span

    def y_of(level: int) -> float:
        return bottom - (bottom - top) * level / max(1, max_level)

    for level in range(max_level + 1):
        chart.lines.append((left, y_of(level), right, y_of(level), "grid"))
        chart.labels.append(Label(left - 6, y_of(level) + 4, str(level), "tick", "end"))
    level, d = 0, f"M{left:.1f},{y_of(0):.1f}"
    for event in events:
        x = x_of(event["at"])
        d += f" L{x:.1f},{y_of(level):.1f} L{x:.1f},{y_of(event['level']):.1f}"
        level = event["level"]
        chart.dots.append((x, y_of(level), f"point source-{event.get('source', '')}", event["title"]))
    d += f" L{right:.1f},{y_of(level):.1f}"
    chart.paths.append((d, "steps"))
    chart.labels.append(Label(left, bottom + 18, f"{start.astimezone(zone):%Y-%m-%d}", "tick", "start"))
    chart.labels.append(Label(right, bottom + 18, f"{end.astimezone(zone):%Y-%m-%d}", "tick", "end"))
    chart.data = {"chart": "level-timeline", "events": len(events)}
    return chart
