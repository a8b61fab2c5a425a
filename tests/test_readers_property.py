"""Every reader of a user file, fed arbitrary bytes: a result or one clear error, nothing else.

Property tests (hypothesis) for idx (raw and gzip'd), latent, classes, cluster.conf and
the collection files (collection.json, manifest.json, images.sqlite, latents.npy), and
the bounded readers checked in a child process under ``ulimit -v``.
"""
from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imsim._validation import DataFormatError
from imsim.datasets import read_idx, read_latent
from imsim.formats.classes import parse_classes, read_classes
from imsim.formats.cluster import parse_cluster_conf

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
HEADERS = st.sampled_from([2049, 2051, 0x0B03, 1, 69, 999, 7])


@st.composite
def idx_like(draw):
    """Bytes that start like an idx file often enough to reach the size checks."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=64))
    ints = [draw(HEADERS)] + [draw(st.integers(-5, 40)) for _ in range(3)]
    header = struct.pack(">4i", *ints)[: draw(st.sampled_from([8, 12, 16]))]
    return header + draw(st.binary(max_size=200))


def _expect_clean(fn, *args):
    try:
        fn(*args)
    except (DataFormatError, FileNotFoundError):
        pass


@pytest.mark.slow  # fuzzing: 60 generated inputs each
@FAST
@given(data=idx_like(), gz=st.booleans())
@pytest.mark.filterwarnings("ignore:.*written by an original student program:UserWarning")
def test_idx_readers_give_a_result_or_one_clear_error(tmp_path, data, gz):
    path = tmp_path / ("f.gz" if gz else "f.idx")
    path.write_bytes(gzip.compress(data) if gz else data)
    for reader in (read_idx, read_latent):
        _expect_clean(reader, path)


@pytest.mark.slow  # fuzzing: 60 generated inputs each
@FAST
@given(text=st.one_of(
    st.text(max_size=200),
    st.lists(st.tuples(st.integers(-3, 10**21), st.lists(st.integers(-2, 10**21), max_size=6)),
             max_size=5).map(lambda rows: "\n".join(
                 f"CLUSTER-{c} {{ size: {len(ids)}, {', '.join(map(str, ids))}}}" for c, ids in rows))))
def test_classes_parser(text):
    try:
        labels = parse_classes(text)
    except DataFormatError:
        return
    assert labels.ndim == 1 and (labels.size == 0 or labels.min() >= 0)


@pytest.mark.slow  # fuzzing: 60 generated inputs each
@FAST
@given(text=st.one_of(st.text(max_size=200), st.lists(
    st.tuples(st.sampled_from(["number_of_clusters", "number_of_vector_hash_tables", "max_number_M_hypercube",
                               "number_of_probes", "x"]),
              st.one_of(st.integers(-5, 10**30).map(str), st.text(max_size=8))),
    max_size=6).map(lambda kv: "\n".join(f"{k}: {v}" for k, v in kv))))
def test_cluster_conf_parser(text):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _expect_clean(parse_cluster_conf, text)


# -- collection files ------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_collection(tmp_path_factory):
    from imsim.collection import Collection

    from _data import blocky_photos as make_photos
    from test_store import SMALL

    photos = make_photos(tmp_path_factory.mktemp("prop") / "photos", n=6)
    with Collection.build(photos, tmp_path_factory.mktemp("prop") / "coll", epochs=1, progress=False,
                          **SMALL) as c:
        return c.path, c.version


@pytest.mark.parametrize("name", ["collection.json", "manifest.json", "images.sqlite", "latents.npy",
                                  "neighbors_ids.npy"])
def test_collection_files_with_arbitrary_content(small_collection, tmp_path, name):
    from imsim.collection import Collection

    src, version = small_collection
    original = (src / name if name == "collection.json" else src / "versions" / version / name).read_bytes()

    coll = tmp_path / "c"
    shutil.copytree(src, coll)
    target = coll / name if name == "collection.json" else coll / "versions" / version / name

    @settings(max_examples=30, deadline=None)
    @given(data=st.one_of(st.binary(max_size=300),
                          st.integers(0, len(original)).map(lambda n: original[:n]),
                          st.binary(min_size=1, max_size=8).map(lambda b: original[:100] + b + original[108:]),
                          st.sampled_from([b"{}", b"[]", b'{"format": "imsim-collection"}', b"null"])))
    def check(data):
        target.write_bytes(data)
        try:
            with Collection.open(coll) as c:
                c.neighbors()
                c.records()
                assert len(c.latents) == len(c)
        except (DataFormatError, FileNotFoundError) as exc:
            assert str(exc) and "\n" not in str(exc)

    check()


# -- bounded readers under a memory cap ----------------------------------------------

def _run_capped(code: str, *args, kb: int = 1_200_000) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f'ulimit -v {kb}; exec "{sys.executable}" -c "$0" "$@"', code,
                           *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_gzip_bomb_idx_is_refused_from_its_header(tmp_path):
    # 10 declared images of 28x28, then 1 GiB of zeros: about 1 MB gzip'd
    # (a gzip file may hold several members: one for the header, then 64 of 16 MiB of zeros)
    bomb = tmp_path / "bomb.gz"
    zeros = gzip.compress(bytes(2**24), compresslevel=9)
    bomb.write_bytes(gzip.compress(struct.pack(">4i", 2051, 10, 28, 28)) + zeros * 64)
    huge = tmp_path / "huge.gz"
    huge.write_bytes(gzip.compress(struct.pack(">4i", 2051, 2**31 - 1, 2**15, 2**15)))
    assert bomb.stat().st_size < 2 * 2**20
    code = ("import sys\nfrom imsim.datasets import read_idx\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n        read_idx(p)\n    except ValueError as e:\n        print(e)\n")
    out = _run_capped(code, bomb, huge, "/dev/zero")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "holds far more data than its header declares" in lines[0]
    assert "IMSIM_MAX_IDX_BYTES" in lines[1] and "not a regular file" in lines[2]


def test_classes_with_huge_numbers_fail_without_allocating(tmp_path):
    files = {"big_class.txt": "CLUSTER-2000000000 { size: 1, 0}\n",
             "big_id.txt": "CLUSTER-1 { size: 2, 0, 12345678901234567890}\n",
             "far_id.txt": "CLUSTER-1 { size: 2, 0, 99999999999}\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    code = ("import sys\nfrom imsim.formats.classes import read_classes\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n        read_classes(p)\n    except ValueError as e:\n        print(e)\n")
    out = _run_capped(code, *(tmp_path / n for n in files))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "CLUSTER-2000000000 is out of range" in lines[0]
    assert "image id 12345678901234567890 is too large" in lines[1]
    assert "ids go up to 99999999999 but only 2 ids are listed" in lines[2]
    with pytest.raises(DataFormatError):
        read_classes(tmp_path / "big_class.txt")


def test_a_valid_gzip_idx_still_reads(tmp_path):
    from imsim.datasets import write_images

    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_images(tmp_path / "x.idx.gz", images)
    kind, got = read_idx(tmp_path / "x.idx.gz")
    assert kind == "images" and np.array_equal(got, images)
