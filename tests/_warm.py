"""``imsim`` commands started from a warm interpreter, for tests that run many of them.

Every ``python -m imsim ...`` spends most of its second or two importing the libraries it
uses (PyTorch alone, with the torch._dynamo that its optimizers load, is 2 s; scikit-learn,
SciPy, matplotlib and POT another second), the same for each command. test_readme.py runs
some 15 of them in a row: there a fork server imports those libraries once, and each
command is a fork of it that runs ``imsim`` as ``python -m imsim`` would, in the command's
own folder, environment and standard streams, and exits with its exit status.

What the fork has that a fresh interpreter lacks: the third-party modules of PRELOAD,
already imported (with the environment the server started in, which the test gives the
commands too). imsim itself is not imported by the server: each command imports its own
modules as a fresh ``python -m imsim`` does, so a missing or broken import of imsim's
still fails the command. A library left out of PRELOAD, or one not installed, is imported
by the command itself, as it would be anyway.

Two roles, one file (the client imports nothing beyond the standard library's socket,
so a command starts in milliseconds)::

    python _warm.py serve SOCKET               # imports PRELOAD, prints "ready", serves
    python -I -S _warm.py run SOCKET ARGS...   # runs `imsim ARGS` in a fork; its exit status

A command's process tree: the server forks a monitor for each connection, the monitor
forks the command and reports how it ended (its exit status; 128 + N where a signal N
killed it, as a shell says), so a crash or a kill (the memory cap) is reported too.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import sys

#: imported by the server before it serves (in this order); a module that is not
#: installed is skipped. POT's torch backend is switched off for its import, as imsim's
#: own loader of POT does where torch is not loaded yet (imsim.distances.emd).
PRELOAD = (
    "numpy", "PIL.Image", "cv2", "typer", "rich", "pydantic", "tqdm", "scipy.stats",
    "scipy.spatial", "sklearn.cluster", "sklearn.metrics", "sklearn.manifold",
    "sklearn.decomposition", "matplotlib.figure", "matplotlib.backends.backend_agg", "faiss",
    "ot.lp.emd_wrap", "torch", "torch.optim", "torch._dynamo",
)
_NO_TORCH_IN_POT = "POT_BACKEND_DISABLE_PYTORCH"


def _send(sock: socket.socket, obj, fds=()) -> None:
    data = json.dumps(obj).encode()
    socket.send_fds(sock, [struct.pack("!I", len(data)) + data], list(fds))


def _recv(sock: socket.socket):
    data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 3)
    if len(data) < 4:
        raise ConnectionError("no request")
    (size,) = struct.unpack("!I", data[:4])
    data = data[4:]
    while len(data) < size:
        more = sock.recv(size - len(data))
        if not more:
            raise ConnectionError("a request cut short")
        data += more
    return json.loads(data), fds


# -- the client: the `imsim` a test puts on PATH -------------------------------------------

def run(path: str, args: list[str]) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        _send(sock, {"argv": args, "cwd": os.getcwd(), "env": dict(os.environ)}, fds=(0, 1, 2))
        status = b""
        while len(status) < 4:
            more = sock.recv(4 - len(status))
            if not more:
                print("imsim (warm): the fork server went away", file=sys.stderr)
                return 1
            status += more
    return struct.unpack("!i", status)[0]


# -- the server -------------------------------------------------------------------------

def _preload() -> None:
    import importlib

    for name in PRELOAD:
        hide = name.startswith("ot") and _NO_TORCH_IN_POT not in os.environ
        if hide:
            os.environ[_NO_TORCH_IN_POT] = "1"
        try:
            importlib.import_module(name)
        except ImportError:
            pass
        finally:
            if hide:
                del os.environ[_NO_TORCH_IN_POT]


def _command(request: dict, fds: list[int]) -> None:
    """In the forked command: become ``python -m imsim ARGS``, then end (never returns)."""
    import runpy

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # streams as a fresh interpreter makes them for these files
    enc = sys.stdout.encoding
    sys.stdin = sys.__stdin__ = open(0, encoding=enc, closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", buffering=1 if os.isatty(1) else -1,
                                       encoding=enc, closefd=False)
    sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, encoding=enc,
                                       errors="backslashreplace", closefd=False)
    sys.path[0] = os.getcwd()  # as `python -m` puts it (the server's is this folder)
    sys.argv = ["imsim", *request["argv"]]
    try:
        runpy.run_module("imsim", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:  # what the interpreter makes of it
        code = exc.code
        if code is None:
            code = 0
        elif not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    _end(code)


def _end(code: int) -> None:
    """End the command's process as the interpreter would, less the teardown of every
    module: the non-daemon threads are waited for, the atexit functions run, garbage
    is collected and the streams flushed. That teardown of the preloaded libraries took
    1.3 s in a fork (it writes to most of the server's pages, each then copied), more
    than the command itself."""
    import atexit
    import gc
    import threading

    try:
        threading._shutdown()
        atexit._run_exitfuncs()
        gc.collect()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def _monitor(conn: socket.socket) -> None:
    """In a fork of the server, for one connection: fork the command, report how it ended."""
    import signal

    request, fds = _recv(conn)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        conn.close()
        _command(request, fds)  # never returns
    for fd in fds:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    conn.sendall(struct.pack("!i", code if code >= 0 else 128 - code))
    conn.close()
    os._exit(0)


def serve(path: str) -> None:
    import gc
    import signal

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `imsim` sets it before torch loads
    _preload()
    gc.freeze()  # the preloaded objects: never traversed again, so their pages stay shared
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # monitors are reaped as they end
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            _monitor(conn)  # never returns
        conn.close()


if __name__ == "__main__":
    role, path, *rest = sys.argv[1:]
    if role == "serve":
        serve(path)
    else:
        sys.exit(run(path, rest))
