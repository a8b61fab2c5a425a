"""A tiny collection for the web tests, built once per test session.

Families of 32x32 colour grids (members: a small shift and noise) in one sub-folder
each, so members of a family are each other's nearest neighbours. Indexed at 16x16
with a model trained for one epoch: the whole build takes a few seconds.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

N_FAMILIES, PER_FAMILY = 4, 6
# one file name a page must show as text, never as markup
ODD_NAME = "café <img src=x onerror=alert(1)> & co.png"


def _make_photos(root: Path) -> Path:
    rng = np.random.default_rng(7)
    for f in range(N_FAMILIES):
        base = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((8, 8, 1)))
        (root / f"fam{f}").mkdir(parents=True)
        for v in range(PER_FAMILY):
            img = np.roll(base, tuple(rng.integers(-1, 2, 2)), axis=(0, 1))
            img = img + rng.normal(0, 6, base.shape)
            name = ODD_NAME if (f, v) == (0, 5) else f"v{v}.png"
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / f"fam{f}" / name)
        # a held-out member of each family, outside the collection: an upload query
        img = base + rng.normal(0, 6, base.shape)
        (root.parent / "queries").mkdir(exist_ok=True)
        pixels = np.clip(img, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root.parent / "queries" / f"fam{f}.png")
    return root


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> Path:
    return _make_photos(tmp_path_factory.mktemp("web") / "photos")


@pytest.fixture(scope="session")
def bare_collection(photos, tmp_path_factory) -> Path:
    """The collection path, without groups."""
    from imsim.collection import Collection

    path = tmp_path_factory.mktemp("web") / "coll"
    Collection.build(photos, path, size=16, latent_dim=8, n_cached=8, epochs=1, seed=0,
                     labels_from_subdirs=True, progress=False).close()
    return path


@pytest.fixture(scope="session")
def grouped_collection(bare_collection, tmp_path_factory) -> Path:
    """A copy of the collection with groups (k = the number of families)."""
    from imsim.collection import Collection

    path = tmp_path_factory.mktemp("web") / "grouped"
    shutil.copytree(bare_collection, path, dirs_exist_ok=True)
    with Collection.open(path) as coll:
        coll.groups(N_FAMILIES, seed=0)
    return path


@pytest.fixture(scope="session")
def old_collection(bare_collection, tmp_path_factory) -> Path:
    """A copy of the collection as indexed before thumbnails were stored in versions."""
    import json

    path = tmp_path_factory.mktemp("web") / "old"
    shutil.copytree(bare_collection, path, dirs_exist_ok=True)
    version = json.loads((path / "collection.json").read_text())["current"]
    for name in ("thumbs.bin", "thumbs.npy"):
        (path / "versions" / version / name).unlink()
    return path


@pytest.fixture
def with_duplicates():
    """What the page's duplicate groups must equal: the library's own answer,
    ``Collection.duplicates(threshold).to_dict()``."""
    return lambda coll, threshold=None: coll.duplicates(threshold)


# -- the browser tests' fixtures (tests/web/test_browser*.py) -------------------------

# The browser itself (one headless Chromium per test process, kept while consecutive tests
# use it) is the `browser` fixture of tests/conftest.py: report/test_html.py drives it too.


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keeps whether the test's call failed, for new_page's screenshots."""
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def server(grouped_collection):
    """``imsim serve``'s server on the grouped collection, in this process (so a test can
    monkeypatch what the server calls). One for the session: the browser modules only read
    it, and its map layout and duplicate groups (seconds) are then computed once."""
    from imsim.web import WebServer, create_app

    srv = WebServer(create_app(grouped_collection), port=0, access_log=False,
                    log_level="warning").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def ref(grouped_collection):
    """The same collection opened by the library: the reference answers."""
    from imsim.collection import Collection

    with Collection.open(grouped_collection) as coll:
        yield coll


@pytest.fixture
def new_page(browser, tmp_path, request):
    """``new_page(url, **context_args)``: a fresh page on ``url``, its body ready. Each
    page's test fails on any script error or CSP violation it logged; a failed test leaves
    a screenshot of each of its pages in its tmp_path (page0.png, ...)."""
    from playwright.sync_api import expect

    opened = []

    def make(url, ready=True, **context_args):
        context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **context_args})
        pg = context.new_page()
        problems = []
        pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        # a failed API call is logged as "Failed to load resource": the tests that cause
        # one check the message the page shows instead
        pg.on("console", lambda m: problems.append(f"console: {m.text}")
              if m.type == "error" and "Failed to load resource" not in m.text else None)
        opened.append((context, pg, problems))
        pg.goto(url)
        if ready:
            expect(pg.locator("body")).to_have_attribute("data-ready", "true")
        return pg

    yield make
    problems = [p for _, _, probs in opened for p in probs]
    failed = request.node.stash.get(CALL_FAILED, True) or problems  # no call report: set-up failed
    for k, (context, pg, _) in enumerate(opened):
        if failed:  # for a person debugging (a full-page screenshot of every page cost ~0.3 s)
            pg.screenshot(path=str(tmp_path / f"page{k}.png"), full_page=True)
        context.close()
    assert not problems


@pytest.fixture
def page(new_page, server):
    return new_page(server.url)
