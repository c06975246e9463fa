"""The dashboard's chart geometry (pure functions, no database)."""

from __future__ import annotations

import datetime as dt

from backend.workforce import charts


def test_axis_maximum_is_round_and_holds_the_value():
    for value in (0, 1, 3, 4, 5, 7, 11, 39, 44, 101, 950, 12_345):
        top = charts.nice_max(value)
        assert top >= value and top > 0
        assert float(top / 4).is_integer()  # four whole ticks


def test_long_labels_wrap_into_two_lines():
    assert charts.wrap("바운딩 박스", 120) == ["바운딩 박스"]
    assert charts.wrap("Meeting audio transcription", 120) == ["Meeting audio", "transcription"]


def test_stacked_levels_heights_add_up():
    chart = charts.stacked_levels([
        {"label": "A", "levels": {1: 30, 2: 10}, "uncertified_label": "-"},
        {"label": "B", "levels": {1: 0, 2: 5}, "uncertified_label": "-"},
    ], {1: "L1", 2: "L2"})
    bars = [r for r in chart.rects if r.value]
    assert [r.value for r in bars] == [30, 10, 5]
    unit = bars[0].height / 30
    assert abs(bars[1].height - 10 * unit) < 1e-9 and abs(bars[2].height - 5 * unit) < 1e-9
    assert bars[1].y + bars[1].height == bars[0].y  # level 2 sits on level 1
    assert chart.data == {"chart": "levels", "bars": 3}


def test_hourly_chart_draws_only_hours_with_answers_and_ticks_local_midnights():
    start = dt.datetime(2030, 3, 1, 15, 0, tzinfo=dt.UTC)  # midnight in Seoul
    series = [{"hour": start + dt.timedelta(hours=h), "answers": 3 if h in (2, 30) else 0} for h in range(48)]
    chart = charts.hourly(series, "Asia/Seoul")
    assert [r.value for r in chart.rects] == [3, 3]
    assert [label.text for label in chart.labels if label.css == "tick" and "/" in label.text] == ["03/02", "03/03"]
    assert chart.data["answers"] == 6


def test_level_steps_follow_the_events():
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    events = [{"at": start + dt.timedelta(days=10), "level": 1, "title": "cert"},
              {"at": start + dt.timedelta(days=20), "level": 3, "title": "override"}]
    chart = charts.level_steps(events, start, start + dt.timedelta(days=40), 5, "Asia/Seoul")
    assert len(chart.dots) == 2 and chart.dots[1][1] < chart.dots[0][1]  # higher level, higher up
    assert chart.paths[0][0].count("L") == 2 * len(events) + 1
