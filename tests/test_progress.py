"""imsim._progress: bars on a terminal, plain lines in a pipe, nothing when off."""
import io

from imsim import _progress
from imsim._progress import _Lines, progress


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _Ticking(_Clock):
    """A clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float):
        super().__init__()
        self.step = step

    def __call__(self):
        self.now += self.step
        return self.now


def test_lines_every_ten_seconds_then_done():
    clock, out = _Clock(), io.StringIO()
    lines = _Lines(total=100, desc="encoding", unit="batch", file=out, clock=clock)
    with lines:
        for _ in range(100):
            clock.now += 0.5  # 50 s of work in all
            lines.update(1)
    text = out.getvalue().splitlines()
    assert len(text) == 6  # at 10, 20, 30, 40, 50 s, then "done"
    assert text[0] == "encoding: 20/100 batches (20%), 10 s, about 40 s left"
    assert text[-1] == "encoding: done, 100 batches in 50 s"


def test_short_work_prints_nothing():
    clock, out = _Clock(), io.StringIO()
    items = list(_Lines(range(5), desc="x", file=out, clock=clock))
    assert items == [0, 1, 2, 3, 4] and out.getvalue() == ""


def test_iterating_counts_items_and_knows_the_length():
    clock, out = _Clock(), io.StringIO()
    bar = _Lines(range(4), desc="reading images", unit="img", file=out, clock=clock)
    assert bar.total == 4
    for _ in bar:
        clock.now += 6
    assert out.getvalue().splitlines() == ["reading images: 2/4 images (50%), 12 s, about 12 s left",
                                           "reading images: 4/4 images (100%), 24 s",
                                           "reading images: done, 4 images in 24 s"]


def test_mode_follows_the_environment(monkeypatch):
    for value, mode in (("0", "off"), ("1", "bar"), ("lines", "lines")):
        monkeypatch.setenv("IMSIM_PROGRESS", value)
        assert _progress._mode() == mode
    monkeypatch.delenv("IMSIM_PROGRESS")
    assert _progress._mode() == "lines"  # pytest's stderr is not a terminal
    assert isinstance(progress(range(3)), _Lines)
    assert not isinstance(progress(range(3), show=False), _Lines)


def test_short_bars_in_a_row_still_report_every_ten_seconds(monkeypatch):
    """Many bars of 2 s each (a search step of many settings) print a line every 10 s."""
    clock = _Clock()
    out = io.StringIO()
    monkeypatch.setattr(_progress.time, "monotonic", clock)
    monkeypatch.setattr(_progress, "_LAST_LINE", [None])
    for b in range(12):
        bar = _Lines(total=4, desc=f"setting {b}", unit="query", file=out, clock=clock)
        with bar:
            for _ in range(4):
                clock.now += 0.5
                bar.update(1)
    lines = out.getvalue().splitlines()
    # 24 s of work: lines at 10 and 20 s, each followed by its bar's "done"
    assert [line.split(":")[0] for line in lines] == ["setting 4", "setting 4", "setting 9",
                                                      "setting 9"]


def test_a_bar_just_started_waits_a_second():
    """A bar started when the last line is 10 s old prints nothing in its first second
    (no "1/1,000 images (0%), 0 s"), then its line with an estimate."""
    clock, out = _Clock(), io.StringIO()
    bar = _Lines(total=1000, desc="thumbnails", unit="img", file=out, clock=clock)
    clock.now += 10.0
    bar.start = clock.now  # started only now
    bar.update(1)
    assert out.getvalue() == ""
    clock.now += 1.0
    bar.update(99)
    assert out.getvalue().splitlines() == ["thumbnails: 100/1,000 images (10%), 1 s, about 9 s left"]


def test_zip_with_the_bar_first_counts_the_last_item():
    clock, out = _Clock(), io.StringIO()
    bar = _Lines(range(3), desc="x", unit="img", file=out, clock=clock)
    bar.printed = 1  # as if a line had been printed: close() then says "done"
    for _item, _i in zip(bar, range(3)):
        clock.now += 1
    assert out.getvalue().splitlines()[-1] == "x: done, 3 images in 3 s"


def test_the_vector_encoders_count_their_chunks(monkeypatch):
    """features/thumbnail encoders report progress over their 1,024-image chunks
    (minutes on thousands of photos, silent before): each chunk is counted once done."""
    from imsim.encoders.handcrafted import _chunks

    out, made = io.StringIO(), []

    def lines(iterable=None, *, total=None, desc="", unit="it", show=None):
        made.append(show)
        return _Lines(iterable, total=total, desc=desc, unit=unit, file=out, clock=_Ticking(11.0))

    monkeypatch.setattr(_progress, "progress", lines)
    assert list(_chunks(2500, "features: encoding", True)) == [0, 1024, 2048]
    text = out.getvalue().splitlines()
    assert [line.split(": ")[2].split(" ")[0] for line in text[:-1]] == ["1,024/2,500", "2,048/2,500",
                                                                         "2,500/2,500"]
    assert text[-1] == "features: encoding: done, 2,500 images in 44 s"
    assert list(_chunks(0, "features: encoding", False)) == [] and made == [None, False]
