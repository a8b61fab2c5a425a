import re
import subprocess
import sys

import pytest

from imsim import __version__
from imsim.cli.main import main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_commands(capsys):
    """--help lists every registered command once, each with its summary, in the
    order of the assignment's programs and then the collection's commands."""
    import typer

    from imsim.cli.main import app

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    listed = re.findall(r"^│ ([a-z][a-z-]*) {2,}\S", out, re.M)
    assert sorted(listed) == sorted(typer.main.get_command(app).commands)
    known = ["train", "reduce", "search", "emd-sweep", "cluster", "classify", "index", "query",
             "duplicates", "collections", "demo", "serve"]
    assert [name for name in listed if name in known] == known
    summaries = {name: re.search(rf"^│ {name} +(.*?) *│$", out, re.M).group(1) for name in known}
    assert summaries["search"].startswith("Nearest neighbours of every query")
    assert summaries["query"].startswith("The photos of a collection most like IMAGE")


def test_unknown_command_exits_nonzero(capsys):
    assert main(["no-such-command"]) != 0


def test_import_imsim_is_light():
    code = ("import sys, imsim, imsim.cli.main; "
            "heavy = [m for m in ('torch', 'matplotlib', 'fastapi', 'faiss') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.slow  # runs imsim commands in fresh interpreters
def test_warnings_reach_the_user_as_one_line(tmp_path):
    """A command that warns (an unknown key in cluster.conf, a student's latent file)
    prints ``warning: ...`` once, with no source path or code line."""
    import numpy as np

    from imsim.datasets import write_images, write_latent

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 8, 8), dtype=np.uint8)
    write_images(tmp_path / "img.idx", images)
    write_latent(tmp_path / "lat.idx", rng.integers(0, 25500, size=(30, 3)).astype(np.uint16))
    legacy = tmp_path / "legacy.latent"  # magic 69: written by an original student program
    legacy.write_bytes(b"\x00\x00\x00\x45" + (tmp_path / "lat.idx").read_bytes()[4:])
    (tmp_path / "cluster.conf").write_text("number_of_clusters: 3\nnot_a_key: 1\n")
    runs = {
        "not_a_key": ["cluster", "-d", tmp_path / "img.idx", "-c", tmp_path / "cluster.conf",
                      "-o", tmp_path / "out.txt"],
        "magic number 69": ["search", "-d", tmp_path / "img.idx", "-q", tmp_path / "img.idx",
                            "-i", legacy, "-s", legacy, "-o", tmp_path / "s.txt"],
    }
    for expected, args in runs.items():
        done = subprocess.run([sys.executable, "-m", "imsim", *map(str, args)],
                              capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        lines = [line for line in done.stderr.splitlines() if expected in line]
        assert len(lines) >= 1 and all(line.startswith("warning: ") for line in lines), done.stderr
        assert ".py:" not in done.stderr and "warnings.warn" not in done.stderr, done.stderr
