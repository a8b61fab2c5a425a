"""The HTML report: built from the results JSON alone, every section, valid and self-contained."""
from __future__ import annotations

import base64
import re
import shutil
from html.parser import HTMLParser

import pytest

from imsim.evaluation.demo import load_results
from imsim.report.html import SECTIONS, build_report

pytestmark = pytest.mark.slow  # builds a demo run, then reports

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class _Checker(HTMLParser):
    """Collects ids, images and links, and checks that every tag is closed in order."""

    def __init__(self):
        super().__init__()
        self.stack, self.ids, self.images, self.links, self.errors = [], [], [], [], []
        self.text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag in ("a", "link", "script"):
            self.links.append((tag, attrs.get("href") or attrs.get("src") or ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(path) -> _Checker:
    checker = _Checker()
    checker.feed(path.read_text(encoding="utf-8"))
    checker.close()
    return checker


@pytest.fixture(scope="module")
def results_dir(demo_run):
    """The results folder of the `imsim demo --quick` run of tests/conftest.py (shared
    with cli/test_demo_cli.py)."""
    return demo_run[1] / "results"


@pytest.fixture(scope="module")
def report(demo_report):
    """The report of that run, built from a copy of its results folder alone (`imsim
    report`, which calls build_report; shared with cli/test_demo_cli.py) for the tests
    that only read it."""
    return demo_report[1]


def test_report_has_every_section_and_parses(report, results_dir):
    page = _parse(report)
    assert page.errors == [] and page.stack == []
    assert [a for a, _ in SECTIONS] == [i for i in page.ids if i in dict(SECTIONS)]
    # self-contained: every image is an embedded PNG, every link stays in the page
    assert len(page.images) >= 10
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # ... and the one script is inline (no src): the enlarge-on-click
    assert all((tag == "a" and href.startswith("#")) or (tag == "script" and href == "")
               for tag, href in page.links)
    text = " ".join(page.text)
    # the exact command (as cli/demo.py writes it down: the options in its own order)
    assert f"imsim demo --dataset digits --out {results_dir.parent} --seed 1 --quick" in text
    assert "The classifier did not run" in text or "accuracy" in text


def test_numbers_come_from_the_results(results_dir, report):
    results = load_results(results_dir)
    text = " ".join(_parse(report).text)
    for r in results["search"]["records"]:
        assert f"{r['approx_factor']:.3f}" in text
    for r in results["emd"]["results"]:
        assert f"{r['emd_correct']:.4f}" in text and f"{r['manhattan_correct']:.4f}" in text
    for r in results["clustering"]["results"]:
        assert f"{r['silhouette']['total']:+.4f}" in text
    d = results["run"]["data"]
    assert f"{d['n_train']:,} train" in text
    assert results["run"]["machine"]["cpu"] in text


def test_default_path_and_missing_experiments(results_dir, tmp_path):
    """Every experiment but the classifier left out (its figures are drawn in 0.4 s, the
    whole report's in 2.3 s): each left-out section says so, the classifier's does not."""
    copy = tmp_path / "out" / "results"
    shutil.copytree(results_dir, copy)
    missing = ("autoencoder", "search", "emd", "clustering")
    for name in missing:
        (copy / f"{name}.json").unlink()
    path = build_report(copy)
    assert path == tmp_path / "out" / "report.html"
    page = _parse(path)
    assert page.errors == [] and {"emd", "classifier"} <= set(page.ids)
    text = " ".join(page.text)
    for name in missing:
        assert f"no {name}.json was found" in text
    assert "no classifier.json was found" not in text and "test accuracy" in text.lower()


def test_summary_has_the_run_context_beside_it(results_dir, report):
    results = load_results(results_dir)
    run = results["run"]
    page = report.read_text(encoding="utf-8")
    summary = page[page.index('id="summary"'):page.index('id="autoencoder"')]
    assert '<div class="summary">' in summary and '<aside class="context">' in summary
    context = summary[summary.index('<aside class="context">'):]
    assert run["machine"]["cpu"] in context
    assert f"{run['machine']['load_average'][0]:.2f} at the start" in context
    wall, cpu = run["wall_seconds"], run["cpu_seconds"]
    assert 0 < cpu and f"{cpu / wall:.1f} of" in context
    # the layout follows the window: no width fixed in pixels beyond a phone's
    css = page[page.index("<style>"):page.index("</style>")]
    fixed = [int(w) for w in re.findall(r"(?<![-\w])width:(\d+)px", css)]
    assert all(w <= 360 for w in fixed), fixed


def test_report_in_a_browser_fits_a_phone_and_enlarges_figures(report, browser):
    sync_api = pytest.importorskip("playwright.sync_api")
    url = report.resolve().as_uri()
    contexts = []
    try:
        for viewport in ({"width": 390, "height": 844}, {"width": 1280, "height": 900}):
            contexts.append(browser.new_context(viewport=viewport))
        phone, desk = (c.new_page() for c in contexts)
        errors = []
        phone.on("pageerror", lambda exc: errors.append(str(exc)))
        phone.goto(url)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        desk.on("pageerror", lambda exc: errors.append(str(exc)))
        desk.goto(url)
        n_images = desk.locator("main img").count()
        assert desk.locator("main img.zoomable").count() == n_images >= 10
        chart = desk.locator("#clustering .pair img").first
        shown = chart.evaluate("i => i.getBoundingClientRect().width")
        # a clustering chart is at least 40% of the column (it was shrunk to ~30%)
        column = desk.evaluate("document.querySelector('#clustering').clientWidth")
        assert shown >= 0.4 * column, (shown, column)
        chart.click()
        dialog = desk.locator("dialog#zoom")
        sync_api.expect(dialog).to_have_attribute("open", "")
        big = desk.locator("dialog#zoom img").evaluate("i => i.getBoundingClientRect().width")
        assert big > shown * 1.2
        desk.keyboard.press("Escape")
        sync_api.expect(dialog).not_to_have_attribute("open", "")
        assert errors == []
    finally:
        for c in contexts:
            c.close()
