"""Screenshots of the demo report for the README, taken from the code, not by hand.

    python docs/report_screenshots.py                     # runs `imsim demo --quick` first
    python docs/report_screenshots.py --report imsim-demo/report.html [--out docs/img]
    python docs/report_screenshots.py --report R --full   # every section, desktop and phone
    python docs/report_screenshots.py --report R --plots  # and the README's search/EMD plots

Opens the self-contained report in headless Chromium (Debian's /usr/bin/chromium, or
$IMSIM_CHROMIUM, driven by Playwright) at a desktop width (1280 px) and a phone width
(390 px, 3x pixels) and writes:

- ``report-summary.jpg``: the top of the report at desktop width (summary and run context);
- ``report-enlarged.jpg``: a chart opened by a click (the enlarged view);
- ``report-phone.jpg``: the top of the report on a phone;
- with ``--full``: ``report-clustering.jpg`` (that section) and full-page PNGs at both widths.

The web page's screenshots are another script's job; this one only knows the report.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium() -> str:
    for candidate in (os.environ.get("IMSIM_CHROMIUM"), shutil.which("chromium"),
                      "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit("error: no Chromium found: install Debian's chromium or set IMSIM_CHROMIUM")


def quick_report(out: Path) -> Path:
    """Run ``imsim demo --quick`` into ``out`` and return its report."""
    data = ROOT.parent / "shared" / "datasets" / "mnist"
    args = [sys.executable, "-m", "imsim", "demo", "--quick", "--out", str(out)]
    if data.is_dir():
        args += ["--data-dir", str(data)]
    subprocess.run(args, check=True)
    return out / "report.html"


def report_screenshots(report: Path, out_dir: Path, *, full: bool = False) -> list[Path]:
    """Write the report's screenshots into ``out_dir``; returns their paths."""
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    url = Path(report).resolve().as_uri()
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport=DESKTOP)
            page.goto(url)
            page.screenshot(path=out_dir / "report-summary.jpg", quality=85)
            written.append(out_dir / "report-summary.jpg")
            if full:
                section = page.locator("#clustering")
                section.screenshot(path=out_dir / "report-clustering.jpg", quality=85)
                written.append(out_dir / "report-clustering.jpg")
            page.locator("#clustering .pair img").first.click()
            page.wait_for_selector("#zoom[open]", timeout=5000)
            page.screenshot(path=out_dir / "report-enlarged.jpg", quality=85)
            written.append(out_dir / "report-enlarged.jpg")
            page.keyboard.press("Escape")
            if full:
                page.screenshot(path=out_dir / "report-desktop-full.png", full_page=True)
                written.append(out_dir / "report-desktop-full.png")
            phone = browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True)
            phone.goto(url)
            phone.screenshot(path=out_dir / "report-phone.jpg", quality=85)
            written.append(out_dir / "report-phone.jpg")
            width = phone.evaluate("document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                print(f"warning: the report scrolls sideways on a phone ({width} px wide)",
                      file=sys.stderr)
            if full:
                phone.screenshot(path=out_dir / "report-phone-full.png", full_page=True)
                written.append(out_dir / "report-phone-full.png")
        finally:
            browser.close()
    return written


def readme_plots(results_dir: Path, out_dir: Path) -> list[Path]:
    """The README's search and EMD plots, drawn from the demo's results as the report draws them."""
    sys.path.insert(0, str(ROOT / "src"))
    from imsim.evaluation.demo import load_results
    from imsim.evaluation.emd import EMDCorrectness
    from imsim.report.emd_plots import plot_emd_sweep
    from imsim.report.search_plots import plot_time_vs_approximation

    results = load_results(results_dir)
    p = results["search"]["params"]
    written = [plot_time_vs_approximation(
        results["search"]["records"], out_dir / "search-tradeoff.png",
        title=f"{p['n_queries']:,} queries over {p['n_data']:,} images")]
    runs = [EMDCorrectness(**r) for r in results["emd"]["results"]]
    written.append(plot_emd_sweep(runs, out_dir / "emd-windows.png"))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="report.html (default: run imsim demo "
                                                    "--quick into a temporary folder)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img",
                        help="folder for the PNG files (default: docs/img)")
    parser.add_argument("--full", action="store_true",
                        help="also full-page screenshots at both widths")
    parser.add_argument("--plots", action="store_true",
                        help="also the README's search-tradeoff.png and emd-windows.png, drawn "
                             "from the report's results/")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="imsim-shots-") as tmp:
        report = args.report or quick_report(Path(tmp) / "demo")
        for path in report_screenshots(report, args.out, full=args.full):
            print(f"wrote {path}")
        if args.plots:
            for path in readme_plots(Path(report).parent / "results", args.out):
                print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
