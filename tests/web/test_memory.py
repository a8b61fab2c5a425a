"""Server memory under concurrent decompression bombs, measured from /proc.

The server runs in a subprocess under ``ulimit -v`` (a bug here must not take the
machine's memory), as a person would start it. Before the decode budget, 16 uploads
of a 4-megapixel RGBA PNG held ~100 MB each at once (1.6 GB).
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from _data import bomb_png

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")

VIRTUAL_LIMIT_KB = 5_000_000  # idle: ~1.1 GB of address space (torch), plus thread stacks


def _status_kb(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1))


def test_sixteen_concurrent_bomb_uploads_stay_within_the_decode_budget(bare_collection):
    budget_mb = 64
    cmd = (f"ulimit -v {VIRTUAL_LIMIT_KB}; exec {sys.executable} -m imsim serve -c {bare_collection} "
           f"--port 0 --no-access-log --max-pixels 4500000 --decode-memory-mb {budget_mb}")
    proc = subprocess.Popen(["bash", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        proc.stdout.readline()  # "serving COLLECTION (N images, version V)"
        url = re.search(r"open (http://\S+/)", proc.stdout.readline()).group(1)
        small = bomb_png(64, 64, color_type=6, value=0)
        for _ in range(100):  # the address is printed just before the server accepts
            try:
                assert httpx.post(url + "api/search", files={"image": ("s.png", small)},
                                  timeout=60).status_code == 200
                break
            except httpx.TransportError:
                threading.Event().wait(0.1)
        idle = _status_kb(proc.pid, "VmRSS")
        bomb = bomb_png(2000, 2000, color_type=6, value=0)  # 4 MP RGBA: 16 MB decoded, 20 KB sent
        answers = []
        start = threading.Barrier(16)

        def upload():
            start.wait()
            answers.append(httpx.post(url + "api/search", files={"image": ("b.png", bomb)},
                                      data={"n": "3"}, timeout=300).status_code)

        threads = [threading.Thread(target=upload) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        peak, after = _status_kb(proc.pid, "VmHWM"), _status_kb(proc.pid, "VmRSS")
    finally:
        proc.terminate()
        proc.wait(30)
    assert answers == [200] * 16
    # at most the budget of rasters at once (and their reduced copies), never 16 of them
    assert (peak - idle) / 1024 < budget_mb + 200, (idle, peak)
    assert (after - idle) / 1024 < 200, (idle, after)  # and handed back afterwards
    print(f"idle {idle / 1024:.0f} MB, peak {peak / 1024:.0f} MB, after {after / 1024:.0f} MB")
