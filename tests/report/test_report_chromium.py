"""`warroom report --format html` in real headless Chromium: each chart renders, with marks people see.

The page is opened from a file with every network request refused (it must need none); each
chart's SVG must lay out with a non-zero size, its marks (the ids html.py gives them) must have
non-zero boxes, and the screenshot of each chart must hold pixels in its marks' colours. The
screenshots are saved in the test's tmp dir for a person to look at.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Route, async_playwright

from tests.e2e.test_web_ui import CHROMIUM, CHROMIUM_ARGS
from tests.report.test_report_figures import MIN, NOW, RUNBOOK, incident
from warroom.enums import Severity
from warroom.report.figures import figures, week_of
from warroom.report.html import COLORS, to_html

pytestmark = [pytest.mark.system("chromium")]

MARK_COLORS = {
    "mttx": COLORS["mitigate"],
    "services": "#2b7bb9",  # closed incidents
    "attainment": "#1f77b4",  # matplotlib's first cycle colour: the overall group
}


def fleet():  # type: ignore[no-untyped-def]
    """Four weeks of incidents on three services, one still open."""
    monday = week_of(NOW)
    records = []
    for week in range(4):
        start = monday - timedelta(days=7 * (3 - week))
        for number, (service, severity, mitigated) in enumerate(
            [("order-api", Severity.P1, 20 + 5 * week), ("order-api", Severity.P2, 45), ("search", Severity.P1, 35)]
        ):
            records.append(
                incident(f"w{week}-{number}", start + timedelta(hours=number), severity, service, mitigated=mitigated)
            )
    records.append(incident("open", NOW - 12 * MIN, Severity.P1, "payments", mitigated=None, resolved=None, open_=True))
    return figures(records, RUNBOOK, NOW, monday - timedelta(days=21))


def pixels_like(path: Path, color: str, tolerance: int = 40) -> int:
    target = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    with Image.open(path) as image:
        data = image.convert("RGB").tobytes()
    pixels = (data[i : i + 3] for i in range(0, len(data), 3))
    return sum(1 for pixel in pixels if all(abs(c - want) <= tolerance for c, want in zip(pixel, target, strict=True)))


async def test_each_chart_renders_with_visible_marks_in_chromium(tmp_path: Path) -> None:
    page_file = tmp_path / "report.html"
    page_file.write_text(to_html(fleet()), encoding="utf-8")
    requested: list[str] = []

    async def refuse(route: Route) -> None:
        if route.request.url.startswith("file://"):
            await route.continue_()
            return
        requested.append(route.request.url)
        await route.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.route("**/*", refuse)
            await page.goto(page_file.as_uri())
            await page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            for name, color in MARK_COLORS.items():
                chart = page.locator(f"figure#chart-{name} > svg")
                box = await chart.bounding_box()
                assert box is not None and box["width"] > 200 and box["height"] > 100, (name, box)
                sizes = await chart.evaluate(
                    """svg => [...svg.querySelectorAll('[id^="mark-"]')].map(mark => {
                        const box = mark.getBoundingClientRect();
                        const style = getComputedStyle(mark);
                        return {id: mark.id, width: box.width, height: box.height,
                                shown: style.visibility !== 'hidden' && style.display !== 'none'};
                    })"""
                )
                visible = [s for s in sizes if s["shown"] and s["width"] > 0 and s["height"] > 0]
                assert len(visible) >= 3, (name, sizes)
                assert not any(s["id"] == "mark-empty" for s in sizes), name
                shot = tmp_path / f"chart-{name}.png"
                await chart.screenshot(path=str(shot))
                assert pixels_like(shot, color) > 200, (name, color, shot)
        finally:
            await browser.close()
    assert requested == [], f"the report fetched {requested}: it must be self-contained"
    assert (tmp_path / "report.png").stat().st_size > 20_000
