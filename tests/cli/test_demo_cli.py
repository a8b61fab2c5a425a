"""`imsim demo --quick` end to end on digits, and `imsim report` from saved results alone."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest

from imsim.cli.main import main
from imsim.report.html import SECTIONS

pytestmark = pytest.mark.slow  # runs the whole demo on digits (about 30 s)


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = []

    def handle_starttag(self, tag, attrs):
        self.ids += [v for k, v in attrs if k == "id"]


def _ids(path) -> list[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.ids


@pytest.fixture
def demo_out(demo_run):
    """The demo run of tests/conftest.py (report/test_html.py reads it too)."""
    return demo_run


def test_demo_quick_on_digits(demo_out):
    rc, out, _, _ = demo_out
    assert rc == 0
    report = out / "report.html"
    assert report.is_file()
    assert [a for a, _ in SECTIONS] == [i for i in _ids(report) if i in dict(SECTIONS)]
    for name in ("run", "autoencoder", "search", "emd", "classifier", "clustering"):
        assert (out / "results" / f"{name}.json").is_file()
    assert (out / "models" / "autoencoder" / "config.json").is_file()
    assert (out / "latent" / "train.latent").is_file()
    text = report.read_text(encoding="utf-8")
    assert f"imsim demo --dataset digits --out {out} --seed 1 --quick" in text


def test_report_rebuilds_from_results_alone(demo_out, demo_report):
    _, out, _, _ = demo_out
    rc, target, stdout = demo_report  # `imsim report` on a copy of results/: no models, latents or cache
    assert rc == 0
    assert f"wrote {target}" in stdout
    assert _ids(target) == _ids(out / "report.html")


def test_demo_prints_progress_then_a_summary(demo_out):
    _, out, stdout, stderr = demo_out
    for step in ("data", "autoencoder", "search", "emd", "classifier", "clustering"):
        assert step in stdout
    assert f"report: {out / 'report.html'}" in stdout
    assert "data: digits" in stderr and "search: 200 queries over 1442 images" in stderr


@pytest.mark.parametrize("args, message", [
    (["demo", "--quick", "--full"], "exclude each other"),
    (["demo", "--dataset", "cifar10"], "mnist or digits"),
    (["report", "no-such-folder"], "results folder not found"),
])
def test_errors_are_one_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # the demo sets it; undone after
    assert main(args + (["--out", str(tmp_path)] if args[0] == "demo" else [])) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
