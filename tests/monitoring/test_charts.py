"""Charts are SVG a browser and WeasyPrint both draw: valid XML, accessible, with the
thresholds and the breaches where the figures put them."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from monitoring import charts

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))


def points_of(root: ET.Element) -> list[tuple[float, float]]:
    line = root.find(f"{SVG}polyline[@class='series']")
    return [tuple(map(float, p.split(","))) for p in line.get("points").split()]


def series(values: list[float]) -> list[charts.Point]:
    return [charts.Point(T0 + timedelta(hours=i), v) for i, v in enumerate(values)]


def test_line_chart_is_accessible_xml_with_title_and_a_summary_in_words():
    root = parse(charts.line_chart(series([0.1, 0.3, 0.2]), title="error_rate of UC-0001"))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "error_rate of UC-0001"
    desc = root.find(f"{SVG}desc").text
    assert "Latest 0.2" in desc and "min 0.1" in desc and "max 0.3" in desc
    # The strict CSP refuses style attributes: presentation attributes only.
    assert not [el for el in root.iter() if "style" in el.attrib]


def test_threshold_is_a_dashed_line_at_its_value_between_the_points_around_it():
    root = parse(
        charts.line_chart(
            series([0.0, 1.0]), title="t", thresholds=[charts.Threshold(0.5, "limit")]
        )
    )
    (low_x, low_y), (high_x, high_y) = points_of(root)
    group = root.find(f"{SVG}g[@class='threshold']")
    line = group.find(f"{SVG}line")
    assert line.get("stroke-dasharray")
    y = float(line.get("y1"))
    assert y == float(line.get("y2"))
    # Halfway in value is halfway on the page (y grows downwards).
    assert high_y < y < low_y
    assert y == pytest.approx((low_y + high_y) / 2, abs=0.02)
    assert group.find(f"{SVG}text").text == "limit"


def test_breach_marker_sits_on_the_point_it_marks():
    values = [0.1, 0.1, 0.9, 0.2]
    marker = charts.Marker(T0 + timedelta(hours=2), 0.9, "FL-0001")
    root = parse(charts.line_chart(series(values), title="t", markers=[marker]))
    circles = root.findall(f"{SVG}circle[@class='breach']")
    assert len(circles) == 1
    x, y = points_of(root)[2]
    assert float(circles[0].get("cx")) == pytest.approx(x, abs=0.01)
    assert float(circles[0].get("cy")) == pytest.approx(y, abs=0.01)
    assert circles[0].get("fill") == charts.BREACH
    assert "FL-0001" in circles[0].find(f"{SVG}title").text


def test_marker_outside_the_shown_range_is_left_out():
    marker = charts.Marker(T0 - timedelta(days=3), 0.5)
    root = parse(charts.line_chart(series([0.1, 0.2]), title="t", markers=[marker], start=T0))
    assert root.findall(f"{SVG}circle[@class='breach']") == []


def test_band_shows_min_and_max_of_downsampled_buckets():
    points = [charts.Point(T0 + timedelta(hours=i), 0.5, low=0.1, high=0.9) for i in range(3)]
    root = parse(charts.line_chart(points, title="t"))
    assert root.find(f"{SVG}polygon[@class='band']") is not None
    assert "min 0.1" in root.find(f"{SVG}desc").text


def test_empty_series_says_so_and_still_parses():
    root = parse(charts.line_chart([], title="latency_ms"))
    assert "No samples" in root.find(f"{SVG}desc").text
    assert root.find(f"{SVG}polyline") is None


def test_text_is_escaped():
    root = parse(charts.line_chart(series([1, 2]), title='<script>"x"</script> & co'))
    assert root.find(f"{SVG}title").text == '<script>"x"</script> & co'


def test_sparkline_is_small_accessible_xml():
    root = parse(charts.sparkline(series([1, 3, 2]), title="error_rate, last 30 days"))
    assert root.get("role") == "img"
    assert root.get("width") == "140"
    assert "Latest 2" in root.find(f"{SVG}desc").text
    assert len(points_of(root)) == 3
