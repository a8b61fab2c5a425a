"""`imsim index` and `imsim query` on the hostile folder (tests/_hostile.py), as a user runs them.

The index runs in a child process with a timeout: before the fixes a FIFO hung it
forever and a ``/dev/zero`` link read until memory ran out.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from _data import ESCAPE_NAME, MAX_PIXELS, make_hostile_folder
from imsim.cli.main import main

IMSIM = [sys.executable, "-m", "imsim"]


def run(*args, env=None, timeout=180):
    out = subprocess.run([*IMSIM, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **(env or {})}, errors="backslashreplace")
    assert "Traceback" not in out.stderr, out.stderr
    return out


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    h = make_hostile_folder(tmp_path_factory.mktemp("hostile") / "photos")
    # the collection lies inside the photo folder: it must not index itself
    coll = h.root / "coll"
    out = run("index", h.root, "-c", coll, "--size", "8", "--latent", "4",
              "--cache", "4", env={"IMSIM_MAX_IMAGE_PIXELS": str(MAX_PIXELS)})
    assert out.returncode == 0, out.stderr
    return h, coll, out


def test_index_lists_every_hostile_entry_with_its_reason(indexed):
    h, coll, out = indexed
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"indexed {len(h.good)} images")
    assert f"  {len(h.skipped)} skipped:" in lines
    for rel, reason in h.skipped.items():
        listed = [line for line in lines if line.startswith(f"    {rel}: ")]
        assert len(listed) == 1 and reason in listed[0], (rel, reason, out.stdout)
    # names are printed escaped, never raw
    assert "\x1b" not in out.stdout + out.stderr and "\x07" not in out.stdout
    assert not out.stderr.strip(), out.stderr  # no raw warnings (DecompressionBombWarning, ...)

    from imsim.collection import Collection

    with Collection.open(coll) as c:
        paths = {r.path for r in c.records()}
        assert paths == set(h.good)  # the 0.9x bomb, the HTML and escape names are indexed
        assert not any(p.startswith("coll/") for p in paths)
        assert {p for p, _ in c.skipped()} == set(h.skipped)
    # the same folder again: nothing changed, nothing re-read, the collection inside is still ignored
    again = run("index", h.root, "-c", coll, env={"IMSIM_MAX_IMAGE_PIXELS": str(MAX_PIXELS)})
    assert again.returncode == 0 and "0 new, 0 changed" in again.stdout and "0 encoded" in again.stdout


def test_query_hostile_files_gives_one_line_each(indexed, hostile_env, capsys):
    h, coll, _ = indexed
    for key in ("fifo", "zero"):  # in a child with a timeout: these hung or filled memory before
        out = run("query", h.paths[key], "-c", coll, timeout=60)
        assert out.returncode == 1 and out.stderr.startswith("error: cannot read image")
        assert "not a regular file" in out.stderr and len(out.stderr.splitlines()) == 1
    expected = {"loop": "symbolic link loop", "dangling": "broken symbolic link",
                "bomb_15": "the limit is", "truncated_png": "truncated", "garbage": "not an image file"}
    for key, reason in expected.items():
        assert main(["query", str(h.paths[key]), "-c", str(coll)]) == 1
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: cannot read image")
        assert reason in lines[0], (key, lines)
    assert main(["query", str(h.paths["escape"]), "-c", str(coll), "-n", "3"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b]0;pwned\\x07\\x1b[31mred.png" in out
    assert main(["query", str(h.paths["html"]), "-c", str(coll), "-n", "3", "--json"]) == 0
    assert "\x1b" not in capsys.readouterr().out


def test_escape_sequences_in_error_messages_are_escaped(tmp_path, capsys):
    bad = tmp_path / f"{ESCAPE_NAME}.idx"
    bad.write_bytes(b"\x00\x00\x08\x03 not idx")
    assert main(["search", "-d", str(bad), "-q", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b]0;pwned" in err and len(err.splitlines()) == 1
