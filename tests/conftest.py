"""Shared fixtures: the real MNIST files beside the checkout, small random data."""
from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Where the environment turns bytecode off (PYTHONDONTWRITEBYTECODE, set on some CI and
# container images), pytest re-compiles and re-rewrites every test module and Python
# re-compiles imsim on each run: about 4 s of the 9 s that collection takes. The suite
# keeps its own compiled files (in the git-ignored __pycache__ folders) whatever the
# environment says; subprocesses that tests start still follow the environment.
sys.dont_write_bytecode = False

# As the `imsim` command does (cli/main.py): OpenMP threads (faiss, torch) that sleep while
# they wait instead of spinning, set before either loads. On the 2 cores that the suite
# shares with other work, a spinning faiss HNSW build of 1,500 points took 900 ms instead
# of 117 ms. OMP_WAIT_POLICY=ACTIVE in the environment keeps spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# shared test helpers (tests/_data.py, tests/_reference.py) import as top-level modules
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))


# Whole modules of slow tests, marked `slow` here so `pytest -m "not slow"` (the fast
# feedback loop, which does not even import them) leaves them out and `make test` runs
# them: each drives a headless browser, starts a dask cluster, kills processes at fault
# points, measures a server under 16 concurrent bombs, builds collections, trains
# encoders, renders report figures, runs a library's whole conformance suite or needs
# PyTorch. docs/DESIGN.md (the edit-and-test loop) says what else is marked slow, and why.
SLOW_MODULES = (
    "web/test_browser.py", "web/test_browser_page.py", "web/test_browser_map.py",
    "web/test_browser_tiles.py", "web/test_browser_follow.py", "web/test_memory.py",
    "engine/test_dask.py", "engine/test_cli.py", "engine/test_fault.py",
    "test_store_faults.py", "test_store.py", "cli/test_hostile_cli.py", "cli/test_reduce_cli.py",
    "encoders/test_collection_encoders.py", "encoders/test_encoders.py",
    "report/test_search_plots.py", "report/test_plots_readable.py",
    "cluster/test_sklearn_checks.py",
    # PyTorch's import and teardown alone take 3 s of the fast subset's budget, and
    # pytest then attaches its log handler to torch's 42 non-propagating loggers for each
    # test; `pytest tests/models tests/test_embed.py` runs these in seconds
    "models/", "test_embed.py",
)


def pytest_collection_finish(session):
    """The objects that imports and collection made (numpy, scikit-learn, FastAPI, ...
    some hundreds of thousands) live for the whole run: frozen, every later full
    garbage collection skips them (gc.freeze; 0.5 s of the fast subset)."""
    gc.freeze()


def _slow_left_out(config) -> bool:
    return " ".join((config.option.markexpr or "").split()) == "not slow"


def pytest_ignore_collect(collection_path, config):
    """A `-m "not slow"` run does not even import the SLOW_MODULES (torch alone is 2 s)."""
    if _slow_left_out(config):
        path = str(collection_path)
        for m in SLOW_MODULES:
            full = str(ROOT / "tests" / m)
            if path == full or path.startswith(full if m.endswith("/") else full + "/"):
                return True
    return None


# How `make test` spreads the suite over its pytest-xdist workers (--dist loadscope): in
# units, each run whole by one worker (a module's fixtures are made once), the longest
# first (a long unit that started last would end the run alone). A unit is a module,
# or one of the groups of UNITS: modules that share session fixtures, made once per
# worker, so once in all when one worker runs them all (the browser modules: one
# Chromium, one served collection; the engine modules: one Dask cluster; the demo's
# modules: one demo run).
UNITS = {
    "web/browser": ("web/test_browser.py", "web/test_browser_page.py", "web/test_browser_map.py",
                    "web/test_browser_tiles.py", "web/test_browser_follow.py"),
    "engine/dask": ("engine/test_dask.py", "engine/test_cli.py", "engine/test_index_decodes.py"),
    "demo": ("cli/test_demo_cli.py", "report/test_html.py"),  # one demo run, one report of it
}
# the longest units (or modules), longest first: seconds of one worker on a quiet 2-core
# machine, measured (the order matters, the figures are a guide)
LONG_FIRST = {
    "web/browser": 36, "test_readme.py": 15, "demo": 14, "test_photo_decode.py": 8, "engine/dask": 8, "models/test_training.py": 6,
    "test_duplicates.py": 6, "test_store_faults.py": 5, "engine/test_fault.py": 4,
    "cli/test_serve_cli.py": 4, "web/test_api.py": 4, "web/test_memory.py": 3,
}
_UNIT_OF = {module: unit for unit, modules in UNITS.items() for module in modules}


def _unit(path: str) -> str:
    """The scheduling unit of a test file (a path relative to tests/, or a node id)."""
    module = path.split("::")[0]
    module = module[len("tests/"):] if module.startswith("tests/") else module
    return _UNIT_OF.get(module, module)


_RANK = {unit: i for i, unit in enumerate(LONG_FIRST)}


def _long_rank(item) -> tuple[int, int]:
    module = Path(str(item.path)).relative_to(ROOT / "tests").as_posix()
    unit = _unit(module)
    inside = UNITS[unit].index(module) if unit in UNITS else 0
    return _RANK.get(unit, len(_RANK)), inside


def pytest_collection_modifyitems(config, items):
    slow = tuple(str(ROOT / "tests" / m) for m in SLOW_MODULES)
    for item in items:
        if str(item.path).startswith(slow):
            item.add_marker(pytest.mark.slow)
    # stable: the order inside each module is kept, a unit's modules run one after another
    items.sort(key=_long_rank)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's: unknown without it (-p no:xdist)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadscope in UNITS, in the order of the collection (LONG_FIRST first), not
    xdist's own reordering by number of tests (which put the longest units, of few
    tests each, last)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    config.option.loadscopereorder = False
    return UnitScheduling(config, log)


#: a test that is not marked slow and takes longer than this (seconds of wall time, set-up
#: and tear-down included) is named at the end of a `-m "not slow"` run, so the fast
#: subset stays fast (under 30 s for some 1,000 tests) as tests are added
FAST_TEST_BUDGET = 0.5


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _slow_left_out(config):
        return
    took: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) in ("setup", "call", "teardown"):
                took[report.nodeid] = took.get(report.nodeid, 0.0) + report.duration
    over = sorted(((t, n) for n, t in took.items() if t > FAST_TEST_BUDGET), reverse=True)
    if over:
        terminalreporter.write_sep("-", f"{len(over)} test(s) over the fast subset's "
                                        f"{FAST_TEST_BUDGET} s: mark them @pytest.mark.slow "
                                        "or make them faster")
        for t, name in over:
            terminalreporter.write_line(f"{t:6.2f} s  {name}")


def _mnist_dir() -> Path | None:
    env = os.environ.get("IMSIM_MNIST_DIR")
    candidates = [Path(env)] if env else []
    candidates += [ROOT.parent / "shared" / "datasets" / "mnist",
                   ROOT.parent.parent / "shared" / "datasets" / "mnist"]
    for c in candidates:
        if (c / "train-images-idx3-ubyte.gz").exists():
            return c
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Folder with the four MNIST idx files (../shared/datasets/mnist)."""
    d = _mnist_dir()
    if d is None:
        pytest.skip("MNIST files not found beside the checkout (set IMSIM_MNIST_DIR)")
    return d


@pytest.fixture(scope="session")
def mnist_test(mnist_dir):
    """The 10,000 MNIST test images and labels as an ImageSet."""
    from imsim.datasets import read_imageset

    return read_imageset(mnist_dir / "t10k-images-idx3-ubyte.gz",
                         mnist_dir / "t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (tiny models train faster so, and the suite
    shares the machine's cores); the previous setting comes back after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _bars(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = np.zeros((n, 8, 8), np.uint8)
    for img, y in zip(images, labels):
        r, c = rng.integers(1, 7, 2)
        if y == 0:
            img[r, 1:7] = 255
        elif y == 1:
            img[1:7, c] = 255
        else:
            img[r, c] = 255
    return images, labels


@pytest.fixture
def bars():
    """``bars(n, seed=0) -> (images uint8 (n, 8, 8), labels int64 (n,))``: a labelled toy
    set for classifiers. Label 0: a horizontal bar, 1: a vertical bar, 2: a dot, at
    random places."""
    return _bars


@pytest.fixture
def hostile_env(monkeypatch):
    """The small pixel cap of tests/_data.py, for this process and its children."""
    from _data import MAX_PIXELS

    monkeypatch.setenv("IMSIM_MAX_IMAGE_PIXELS", str(MAX_PIXELS))
    return MAX_PIXELS


@pytest.fixture
def hostile_folder(tmp_path, hostile_env):
    """A photo folder with FIFOs, device links, symlink loops, bombs, hostile names
    (see tests/_data.py); the pixel cap is set to match its bombs."""
    from _data import make_hostile_folder

    return make_hostile_folder(tmp_path / "hostile")


# -- one `imsim demo --quick` run, for cli/test_demo_cli.py and report/test_html.py ------------

@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """``imsim demo --quick --dataset digits --seed 1`` run once (in this process):
    ``(exit status, out folder, stdout, stderr)``."""
    import contextlib
    import io

    from imsim.cli.main import main

    mp = pytest.MonkeyPatch()
    mp.setenv("IMSIM_THREADS", "1")  # tiny models: one thread, no waiting on a busy machine
    mp.setenv("OMP_WAIT_POLICY", "PASSIVE")  # what the command sets; undone after
    out = tmp_path_factory.mktemp("cli") / "imsim-demo"
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            rc = main(["demo", "--quick", "--dataset", "digits", "--out", str(out),
                       "--seed", "1"])
    finally:
        mp.undo()
    return rc, out, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="session")
def demo_report(demo_run, tmp_path_factory):
    """``imsim report`` on a copy of that run's results folder alone (no models, latents
    or cache): ``(exit status, the report, stdout)``. Built once (every figure is drawn:
    seconds) for the tests that only read it."""
    import contextlib
    import io
    import shutil

    from imsim.cli.main import main

    _, out, _, _ = demo_run
    copy = tmp_path_factory.mktemp("report") / "copy"
    shutil.copytree(out / "results", copy / "results")
    target = copy.parent / "again.html"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main(["report", str(copy), "-o", str(target)])
    return rc, target, stdout.getvalue()


# -- headless Chromium, for the browser tests (web/test_browser*.py, report/test_html.py) -----

def _chromium() -> str | None:
    import shutil

    for candidate in (os.environ.get("IMSIM_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


CHROMIUM = _chromium()
# Headless and quiet: no sandbox (CI runs as root), no calls home on a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic"]


class _SharedChromium:
    """One Playwright driver and Chromium for a run of consecutive tests that use them.

    Started for the first test that asks for ``browser`` and kept while the tests that
    follow ask for it too (the browser modules run one after the other in a worker: one
    start instead of one a module). Stopped before the first test that does not: while
    Playwright's sync API is started it marks its event loop as running in this thread,
    and a test's own ``asyncio.run`` would then refuse to start.
    """

    def __init__(self):
        self._playwright = None
        self._browser = None

    def get(self):
        if self._browser is None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            try:
                self._browser = self._playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            except BaseException:
                self.stop()
                raise
        return self._browser

    def stop(self):
        browser, playwright = self._browser, self._playwright
        self._browser = self._playwright = None
        try:
            if browser is not None:
                browser.close()
        finally:
            if playwright is not None:
                playwright.stop()


_SHARED_CHROMIUM = _SharedChromium()


def pytest_runtest_setup(item):
    if "browser" not in item.fixturenames:
        _SHARED_CHROMIUM.stop()


def pytest_sessionfinish(session, exitstatus):
    _SHARED_CHROMIUM.stop()


@pytest.fixture
def browser():
    """Headless Chromium (shared, see _SharedChromium; a test opens contexts or pages of
    its own and closes them); the test is skipped, with the reason, only where none is
    installed."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not "
                                   "installed (pip install -e '.[dev]')")
    if CHROMIUM is None:
        pytest.skip("no Chromium to drive: install Debian's package (apt-get install chromium; "
                    ".ci/run does) or set IMSIM_CHROMIUM to a Chromium binary")
    sync_api.expect.set_options(timeout=15_000)  # a loaded 2-core CI machine can be slow to answer
    return _SHARED_CHROMIUM.get()


@pytest.fixture(scope="session", autouse=True)
def _imsim_home(tmp_path_factory):
    """Collections that tests index without -c (and known.json) stay out of the real home;
    no progress lines (they would land in whichever test's stderr is being captured;
    tests/test_progress.py checks them)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMSIM_HOME", str(tmp_path_factory.mktemp("imsim-home")))
        mp.setenv("IMSIM_PROGRESS", "0")
        yield
