"""The HTML report: built from the results JSON alone, every section, valid and self-contained."""
from __future__ import annotations

import base64
import shutil
from html.parser import HTMLParser

import pytest

from imsim.evaluation.demo import DemoConfig, load_results, run_demo
from imsim.report.html import SECTIONS, build_report

pytestmark = pytest.mark.slow  # builds a demo run, then reports

TINY = dict(dataset="digits", ae_train=None, ae_epochs=1, n_test=100, search_queries=30,
            n_examples=2, example_k=3, emd_queries=6, emd_data=300, cluster_images=100,
            map_points=60)
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
def results_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("IMSIM_THREADS", "1")
    try:
        run = run_demo(DemoConfig.from_preset("quick", **TINY), tmp_path_factory.mktemp("demo"),
                       command="imsim demo --quick", progress=False)
    finally:
        mp.undo()
    return run.results_dir


def test_report_has_every_section_and_parses(results_dir, tmp_path):
    path = build_report(results_dir, tmp_path / "r.html")
    page = _parse(path)
    assert page.errors == [] and page.stack == []
    assert [a for a, _ in SECTIONS] == [i for i in page.ids if i in dict(SECTIONS)]
    # self-contained: every image is an embedded PNG, every link stays in the page
    assert len(page.images) >= 10
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(tag == "a" and href.startswith("#") for tag, href in page.links)
    text = " ".join(page.text)
    assert "imsim demo --quick" in text  # the exact command
    assert "The classifier did not run" in text or "accuracy" in text


def test_numbers_come_from_the_results(results_dir, tmp_path):
    results = load_results(results_dir)
    text = " ".join(_parse(build_report(results_dir, tmp_path / "r.html")).text)
    for r in results["search"]["records"]:
        assert f"{r['approx_factor']:.3f}" in text
    for r in results["emd"]["results"]:
        assert f"{r['emd_correct']:.4f}" in text and f"{r['manhattan_correct']:.4f}" in text
    for r in results["clustering"]["results"]:
        assert f"{r['silhouette']['total']:+.4f}" in text
    d = results["run"]["data"]
    assert f"{d['n_train']:,} train" in text
    assert results["run"]["machine"]["cpu"] in text


def test_default_path_and_missing_experiment(results_dir, tmp_path):
    copy = tmp_path / "out" / "results"
    shutil.copytree(results_dir, copy)
    (copy / "emd.json").unlink()
    path = build_report(copy)
    assert path == tmp_path / "out" / "report.html"
    page = _parse(path)
    assert page.errors == [] and "emd" in page.ids
    assert "no emd.json was found" in " ".join(page.text)
