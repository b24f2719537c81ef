"""Every shipped report's page in a real headless Chromium: the chart is there, at its size, and not blank.

The page is rendered from a real run (a DuckDB warehouse with a year of orders), written to disk and
opened as a file with networking off, as a person would open it from S3 or a mail. The chart's background
is a colour nothing else on the page uses, so the screenshot tells where the chart is and how big it came
out; inside it, the lines or bars must have drawn coloured pixels and the axes and labels dark ones.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from thermocline import warehouse
from thermocline.reporting import chart
from thermocline.reporting.definition import available_reports
from thermocline.services.analytics_report import ReportRequest, produce_report, write_to_directory

NOW = dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC)
WINDOW = (1100, 1000)


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[warehouse.Warehouse]:
    path = tmp_path_factory.mktemp("browser") / "w.duckdb"
    rng = random.Random(5)
    rows = []
    for _ in range(400):
        created = NOW - dt.timedelta(days=rng.uniform(0, 400))
        rows.append(
            f"('u{rng.randint(0, 60):06d}', '{rng.choice(['eu-west', 'us-east', 'ap-south'])}', "
            f"'{rng.choice(['PLACED', 'PAID', 'SHIPPED', 'DELIVERED'])}', '{created:%Y-%m-%d %H:%M:%S}', "
            f"{rng.randint(500, 40000) / 100})"
        )
    with contextlib.closing(warehouse.connect(f"duckdb:///{path}")) as conn:
        conn.execute(
            [
                "CREATE TABLE orders (user_id VARCHAR(64), region VARCHAR(64), status VARCHAR(32), "
                "created_at TIMESTAMP, total DECIMAL(12,2))",
                f"INSERT INTO orders VALUES {', '.join(rows)}",
            ]
        )
        yield conn


def _screenshot(chromium: str, page: Path, out: Path) -> Image.Image:
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            # The page must not need the network: any request would fail here.
            "--proxy-server=127.0.0.1:9",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            f"--screenshot={out}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Image.open(out).convert("RGB")


def _first_chart_box(image: Image.Image) -> tuple[int, int, int, int]:
    """The box of the first chart: its background's top-left corner, then as far right and down as the
    background runs along the top edge and the left edge (the chart has a margin in its own colour)."""
    target = tuple(int(chart.BACKGROUND[i : i + 2], 16) for i in (1, 3, 5))
    exact = ImageChops.difference(image, Image.new("RGB", image.size, target)).convert("L")
    mask = exact.point(lambda v: 255 if v == 0 else 0)
    # The first row with a long stretch of the background is the chart's top edge (a stray anti-aliased
    # pixel of the same colour elsewhere is never a long stretch).
    top = next(
        (y for y in range(image.height) if mask.crop((0, y, image.width, y + 1)).histogram()[255] >= 200),
        None,
    )
    assert top is not None, "no chart background on the page"
    left = next(x for x in range(image.width) if image.getpixel((x, top)) == target)
    right = left
    while right < image.width and image.getpixel((right, top)) == target:
        right += 1
    bottom = top
    while bottom < image.height and image.getpixel((left, bottom)) == target:
        bottom += 1
    return left, top, right, bottom


def _count(channel: Image.Image, keep: Callable[[int], bool]) -> int:
    return sum(n for value, n in enumerate(channel.histogram()) if keep(value))


@pytest.mark.parametrize("name", available_reports())
def test_the_chart_shows_in_chromium_at_its_size_and_is_not_blank(
    chromium: str, wh: warehouse.Warehouse, tmp_path: Path, name: str
) -> None:
    produced = produce_report(ReportRequest(name), warehouse=wh, now=NOW)
    assert produced.rows > 0
    (html,) = [p for p in write_to_directory(produced, tmp_path) if p.name == "report.html"]
    image = _screenshot(chromium, html, tmp_path / "shot.png")
    assert image.size == WINDOW

    box = _first_chart_box(image)
    assert (box[2] - box[0], box[3] - box[1]) == (chart.WIDTH, chart.HEIGHT)
    plot = image.crop(box)
    coloured = _count(plot.convert("HSV").split()[1], lambda saturation: saturation > 90)
    dark = _count(plot.convert("L"), lambda lightness: lightness < 110)
    # Lines, bars and dots in the palette's colours; titles, ticks and labels in dark text.
    assert coloured > 1500, f"{name}: only {coloured} coloured pixels in the chart"
    assert dark > 1500, f"{name}: only {dark} dark pixels (axes, titles, labels) in the chart"
