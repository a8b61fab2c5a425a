"""The README's shell commands are true: every ``imsim`` subcommand and option it uses exists,
and its examples run.

Commands are taken from the README's fenced code blocks that are not ``python``: a line
``$ CMD`` is a command (its output follows), and in a ``bash``/``sh`` block every line that is
not blank or a comment is one.

(a) Every ``imsim SUBCOMMAND [SUB-SUBCOMMAND] --option`` in them must be a subcommand and a
    visible option of the CLI (what ``imsim SUBCOMMAND --help`` lists: a hidden alias kept for
    old scripts does not count), read from the Typer app itself.

(b) The ``$``-prompted commands run, in README order, in a bash process in a temporary folder
    under a memory cap (``ulimit -v``), each expected to exit 0: in two parts, each in its own
    process and test (a failure names its part), the MNIST jobs and the photo
    collections (from the heading ``SECOND_PART`` on), which use nothing the first part makes;
    the second part starts as the first does (its ``M=``, ``mkdir`` and ``cd`` lines first).
    The rule for which run:

    * every ``$`` line runs, except those that need what a test cannot give: ``make`` and
      ``pip`` (set-up), ``curl`` and ``imsim serve`` (a server that runs until stopped),
      and ``--engine dask`` (it starts a cluster);
    * ``M=...`` (the MNIST folder) is replaced by a folder of tiny MNIST-format idx files
      (300 training and 120 test images of scikit-learn's digits, scaled to 28x28), so the
      README's training, search, EMD, classification and clustering run in seconds on them;
    * a line whose comment says ``exits 1`` must fail instead.

    The folder holds a link to the checkout's ``benchmarks/`` (the README runs from the
    checkout's root), and ``IMSIM_HOME``/``IMSIM_CACHE`` point inside it.

    The ``imsim`` on the script's PATH runs each command in a fork of a warm interpreter
    (tests/_warm.py, one server for both parts: the third-party libraries imported once,
    under the same memory cap, imsim's own modules imported by each command as a fresh
    ``python -m imsim`` does, the command's folder, environment, streams and exit status
    its own): importing PyTorch, scikit-learn and the rest was some 80% of each command's
    time. ``IMSIM_README_FRESH=1`` runs every command in a fresh ``python -m imsim`` instead.
"""
from __future__ import annotations

import functools
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
WARM = ROOT / "tests" / "_warm.py"  # the fork server that test (b)'s `imsim` commands run in


# what (b) leaves out, by program or by option (see the module docstring)
SKIP_PROGRAMS = {"make", "pip", "curl"}
SKIP_IMSIM = {"serve"}
SKIP_OPTIONS = {"--engine dask"}
MEMORY_CAP_KB = 6 * 1024 * 1024  # torch alone reserves about 2 GiB of address space
SECOND_PART = "### Photo collections"  # (b): where the README's second part begins


def shell_commands(text: str) -> list[tuple[str, bool]]:
    """(command, prompted) for every command in the fenced non-Python blocks, in order."""
    out = []
    for match in re.finditer(r"^```([^\n`]*)\n(.*?)^```", text, re.S | re.M):
        lang, body = match.group(1).strip().lower(), match.group(2)
        if lang in ("python", "py", "json", "toml"):
            continue
        for line in body.splitlines():
            if line.startswith("$ "):
                out.append((line[2:].strip(), True))
            elif lang in ("bash", "sh", "shell") and line.strip() and not line.lstrip().startswith("#"):
                out.append((line.strip(), False))
    return out


def _segments(command: str) -> list[list[str]]:
    """The simple commands of a shell line (split at &&, ||, |, ;, &), comments dropped."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    segments, current = [], []
    for token in lexer:
        if token and set(token) <= set("&|;"):
            segments.append(current)
            current = []
        else:
            current.append(token)
    segments.append(current)
    return [s for s in segments if s]


def imsim_invocations(command: str) -> list[list[str]]:
    """The argument lists of each ``imsim ...`` in a shell line (leading VAR=value dropped)."""
    found = []
    for seg in _segments(command):
        while seg and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", seg[0]):
            seg = seg[1:]
        if seg and seg[0] == "imsim":
            found.append(seg[1:])
    return found


@functools.cache
def _cli():
    """The click command tree of the Typer app (built once: 40 ms a build)."""
    import typer

    from imsim.cli.main import app

    return typer.main.get_command(app)


def _visible_options(command) -> set[str]:
    # duck-typed: recent Typer vendors its own click, so click's classes may not be its classes
    names = {"--help", "-h"}
    for p in command.params:
        if getattr(p, "param_type_name", None) == "option" and not getattr(p, "hidden", False):
            names.update(p.opts)
            names.update(p.secondary_opts)
    return names


def check_invocation(args: list[str]) -> list[str]:
    """What is wrong with ``imsim ARGS`` (an unknown subcommand or option), as messages."""
    group = _cli()
    if not args:
        return []
    command, used, rest = group, ["imsim"], list(args)
    # root options come before the subcommand
    while rest and rest[0].startswith("-"):
        opt = rest.pop(0).split("=", 1)[0]
        if opt not in _visible_options(group):
            return [f"`imsim`: no option {opt}"]
    while hasattr(command, "commands") and rest:
        name = rest.pop(0)
        if name not in command.commands or getattr(command.commands[name], "hidden", False):
            return [f"`{' '.join(used)}`: no subcommand {name!r}"]
        command = command.commands[name]
        used.append(name)
    options = _visible_options(command)
    problems = []
    for token in rest:
        if token == "-" or not token.startswith("-") or re.fullmatch(r"-\d+(\.\d+)?", token):
            continue
        opt = token.split("=", 1)[0]
        if opt not in options:
            problems.append(f"`{' '.join(used)}`: no option {opt}")
    return problems


def readme_problems(text: str) -> list[str]:
    problems = []
    for command, _ in shell_commands(text):
        for args in imsim_invocations(command):
            problems += [f"{p}  (in: {command})" for p in check_invocation(args)]
    return problems


def test_the_readme_has_commands_and_its_first_two_are_make_demo_and_make_test():
    commands = [c for c, _ in shell_commands(README.read_text())]
    assert [shlex.split(c, comments=True) for c in commands[:2]] == [["make", "demo"],
                                                                    ["make", "test"]]
    assert sum(1 for c in commands if imsim_invocations(c)) >= 15
    parts = readme_parts(README.read_text())
    assert sum(readme_script(text, Path("/m"))[1] for text in parts.values()) >= 20


def test_every_imsim_subcommand_and_option_in_the_readme_exists():
    assert readme_problems(README.read_text()) == []


def test_a_wrong_option_or_subcommand_is_caught():
    text = ("```\n$ imsim search -d a -q b --queriez 5\n$ imsim serach -d a\n"
            "$ cd x && imsim datasets shw mnist\n$ imsim search -d a --queries 5\n```\n"
            "```bash\nimsim index photos --encodr features   # a comment --not-an-option\n```\n"
            "```python\nimsim.search('--no-such')\n```\n")
    problems = readme_problems(text)
    assert [p.split("  (in:")[0] for p in problems] == [
        "`imsim search`: no option --queriez",
        "`imsim`: no subcommand 'serach'",
        "`imsim datasets`: no subcommand 'shw'",
        "`imsim search`: no option --queries",       # hidden: the old spelling
        "`imsim index`: no option --encodr",
    ]
    assert check_invocation(["search", "-d", "a", "--n-queries=5", "-EMD", "-l1", "x"]) == []


def _tiny_mnist(folder: Path) -> Path:
    from sklearn.datasets import load_digits

    from imsim.datasets import write_images, write_labels

    digits = load_digits()
    images = np.kron((digits.images * 16).clip(0, 255).astype(np.uint8), np.ones((3, 3), np.uint8))
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # 28 x 28, like MNIST
    labels = digits.target
    folder.mkdir()
    for split, rows in (("train", slice(0, 300)), ("t10k", slice(300, 420))):
        write_images(folder / f"{split}-images-idx3-ubyte.gz", images[rows])
        write_labels(folder / f"{split}-labels-idx1-ubyte.gz", labels[rows])
    return folder


def runnable(command: str) -> bool:
    """Rule (b): which ``$`` lines the test runs."""
    for seg in _segments(command):
        while seg and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", seg[0]):
            seg = seg[1:]
        if seg and seg[0] in SKIP_PROGRAMS:
            return False
        if seg and seg[0] == "imsim" and len(seg) > 1 and seg[1] in SKIP_IMSIM:
            return False
    words = " ".join(shlex.split(command, comments=True))
    return not any(opt in words for opt in SKIP_OPTIONS)


def readme_parts(text: str) -> dict[str, str]:
    """The README cut in the two parts of rule (b): ``mnist`` and ``collections``."""
    head, heading, rest = text.partition(SECOND_PART)
    assert heading, f"README.md has no {SECOND_PART!r} heading"
    return {"mnist": head, "collections": heading + rest}


def _sets_the_scene(command: str) -> bool:
    """``M=...``, or only ``mkdir`` and ``cd``: where a part of the tour starts."""
    return bool(re.match(r"M=\S+(\s|$)", command)) or all(
        seg[0] in ("mkdir", "cd") for seg in _segments(command))


def readme_script(text: str, mnist: Path, setup_from: str | None = None) -> tuple[str, int]:
    """The bash script that runs the README's runnable ``$`` lines, and how many it runs;
    first the scene-setting ``$`` lines of ``setup_from`` (an earlier part), not counted."""
    lines = ["set -u -o pipefail"]
    for command, prompted in shell_commands(setup_from or ""):
        if prompted and _sets_the_scene(command):
            lines.append(f"M={shlex.quote(str(mnist))}" if command.startswith("M=") else command)
    count = 0
    for command, prompted in shell_commands(text):
        if not prompted or not runnable(command):
            continue
        if re.match(r"M=\S+(\s|$)", command):
            command = f"M={shlex.quote(str(mnist))}"
        must_fail = bool(re.search(r"#.*\bexits 1\b", command))
        shown = shlex.quote(command)
        lines.append(f"echo \"\\$ \"{shown}")
        if must_fail:
            lines.append(f"if {command}\nthen echo 'README: this should have failed:' {shown} >&2; "
                         f"exit 1; fi")
        else:
            lines.append(f"{command}\nrc=$?; if [ $rc != 0 ]; then echo \"README command failed "
                         f"(exit $rc):\" {shown} >&2; exit 1; fi")
        count += 1
    return "\n".join(lines) + "\n", count


def test_the_rule_leaves_out_servers_set_up_and_clusters():
    assert not runnable("make demo")
    assert not runnable("cd photos && imsim serve --port 8765      # no -c")
    assert not runnable("curl -s -X POST -F id=3 localhost:8765/api/search")
    assert not runnable("imsim search -d a -q b --engine dask")
    assert runnable("imsim search -d a -q b   # a comment naming --engine dask does not count")
    assert runnable("PYTHONPATH=../benchmarks python -c 'print(1)'")
    script, n = readme_script("```\n$ M=/data\n$ imsim collections\n$ imsim query x  # exits 1\n"
                              "$ make demo\n```\n", Path("/tiny"))
    assert n == 3 and "M=/tiny" in script and "if imsim query x" in script
    assert "make demo" not in script


def _env(extra: dict) -> dict:
    """The environment of the README's commands (and of the fork server that runs them)."""
    return {**os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
            "IMSIM_PROGRESS": "0", "MPLBACKEND": "Agg", **extra}


@pytest.fixture(scope="module")
def warm_server(tmp_path_factory):
    """The socket of one fork server (tests/_warm.py) for both parts' ``imsim`` commands,
    started under the README commands' memory cap (the commands are its forks); None
    where ``IMSIM_README_FRESH`` asks for a fresh interpreter per command."""
    if os.environ.get("IMSIM_README_FRESH"):
        yield None
        return
    sock_dir = Path(tempfile.mkdtemp(prefix="imsim-warm-"))  # a short path: AF_UNIX's limit
    sock = sock_dir / "s"
    log_path = tmp_path_factory.mktemp("warm") / "warm.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            ["bash", "-c", f"ulimit -v {MEMORY_CAP_KB} && exec {shlex.quote(sys.executable)} "
                           f"{shlex.quote(str(WARM))} serve {shlex.quote(str(sock))}"],
            cwd=sock_dir, env=_env({}), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=log, text=True, start_new_session=True)
    try:
        ready = select.select([server.stdout], [], [], 300)[0] and server.stdout.readline()
        assert ready == "ready\n", log_path.read_text()[-3000:]
        yield sock
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # the server, and any command left running
        server.wait()
        server.stdout.close()
        shutil.rmtree(sock_dir, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("part", ["mnist", "collections"])
def test_the_readme_examples_run(tmp_path, part, warm_server):
    parts = readme_parts(README.read_text())
    mnist = _tiny_mnist(tmp_path / "mnist") if part == "mnist" else tmp_path / "no-mnist"
    work = tmp_path / "checkout"
    work.mkdir()
    (work / "benchmarks").symlink_to(ROOT / "benchmarks", target_is_directory=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    imsim = (f"{shlex.quote(sys.executable)} -I -S {shlex.quote(str(WARM))} run "
             f"{shlex.quote(str(warm_server))}" if warm_server
             else f"{shlex.quote(sys.executable)} -m imsim")
    for name, target in (("imsim", imsim), ("python", shlex.quote(sys.executable))):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {target} "$@"\n')
        (bin_dir / name).chmod(0o755)
    script, n = readme_script(parts[part], mnist,
                              setup_from=parts["mnist"] if part == "collections" else None)
    assert n >= {"mnist": 11, "collections": 9}[part]
    env = _env({"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
                "IMSIM_HOME": str(tmp_path / "home"), "IMSIM_CACHE": str(tmp_path / "cache")})
    proc = subprocess.run(["bash", "-c", f"ulimit -v {MEMORY_CAP_KB} && exec bash -s"],
                          input=script, cwd=work, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, (proc.stdout[-3000:] + "\n--- stderr ---\n" + proc.stderr[-3000:])
    # the tour really ran: the latent files, the assignment's search output, the collection
    tour = work / "tour"
    if part == "mnist":
        assert (tour / "train.latent").stat().st_size == 16 + 300 * 10 * 2
        assert (tour / "search.txt").read_text().startswith("Query: 0\n")
    else:
        assert any((tour / "home" / "collections").iterdir())
        assert not (tour / "train.latent").exists()  # nothing of the first part was needed
