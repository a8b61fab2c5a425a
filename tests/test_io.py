"""The output policy of imsim._io: atomic for regular files, write-through for devices and
FIFOs, links followed, folders and inputs refused."""
from __future__ import annotations

import os
import stat
import threading

import pytest

from imsim._io import atomic_path, check_output, read_text_file, write_text_atomic
from imsim._validation import DataFormatError
from imsim.cli.main import main


def test_regular_file_is_replaced_atomically(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("failed half way")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["out.txt"]


def test_dev_null_stays_a_device(tmp_path):
    before = os.stat("/dev/null")
    write_text_atomic("/dev/null", "discarded")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_text_atomic(fifo, "through the pipe")
    reader.join(timeout=30)
    assert got == ["through the pipe"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_symlink_is_followed_and_kept(tmp_path):
    (tmp_path / "real.txt").write_text("old")
    os.symlink("real.txt", tmp_path / "link.txt")
    write_text_atomic(tmp_path / "link.txt", "new")
    assert os.path.islink(tmp_path / "link.txt") and (tmp_path / "real.txt").read_text() == "new"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_a_full_disk_is_named_in_one_line(tmp_path, capsys):
    import errno
    import subprocess
    import sys

    with pytest.raises(OSError, match="^cannot write /dev/full: no space left on device$") as info:
        write_text_atomic("/dev/full", "x" * 10_000)
    assert info.value.errno == errno.ENOSPC
    # a full disk under a regular file: the same words, no temporary file left
    with pytest.raises(OSError, match=rf"^cannot write {tmp_path / 'out.txt'}: disk quota"):
        with atomic_path(tmp_path / "out.txt") as tmp:
            raise OSError(errno.EDQUOT, "Disk quota exceeded", str(tmp))
    assert os.listdir(tmp_path) == []
    # standard output on a full disk: the command says so in one line
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "imsim.cli.main", "collections"],
                              stdout=full, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "IMSIM_HOME": str(tmp_path / "home")})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == ("error: cannot write the output: no space "
                                                    "left on device"), done.stderr


def test_folder_and_input_outputs_are_refused(tmp_path, capsys):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        with atomic_path(tmp_path):
            pass
    assert os.listdir(tmp_path) == []  # no temp file left anywhere
    (tmp_path / "in.txt").write_text("data")
    os.symlink("in.txt", tmp_path / "alias.txt")
    with pytest.raises(ValueError, match="same file as the input"):
        check_output(tmp_path / "alias.txt", tmp_path / "in.txt")
    assert check_output(tmp_path / "new.txt", tmp_path / "in.txt") == tmp_path / "new.txt"
    # the CLI: -o equal to an input, and -o DIR
    from imsim.datasets import write_images
    import numpy as np

    idx = write_images(tmp_path / "x.idx", np.zeros((4, 6, 6), np.uint8) + 3)
    before = idx.read_bytes()
    assert main(["search", "-d", str(idx), "-q", str(idx), "-o", str(idx)]) == 1
    assert "same file as the input" in capsys.readouterr().err and idx.read_bytes() == before
    assert main(["search", "-d", str(idx), "-q", str(idx), "-o", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["alias.txt", "in.txt", "x.idx"]


def test_text_reader_refuses_devices_and_long_files(tmp_path, monkeypatch):
    with pytest.raises(DataFormatError, match="not a regular file"):
        read_text_file("/dev/zero", "classes file")
    (tmp_path / "a.txt").write_text("x" * 100)
    monkeypatch.setenv("IMSIM_MAX_TEXT_BYTES", "99")
    with pytest.raises(DataFormatError, match="IMSIM_MAX_TEXT_BYTES"):
        read_text_file(tmp_path / "a.txt")
