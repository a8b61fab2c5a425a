"""Run the web app with uvicorn on a socket bound up front."""
from __future__ import annotations

import copy
import ipaddress
import socket
import threading
import time

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
HEADER_TIMEOUT = 10.0  # seconds a client has to send a request's headers
KEEP_ALIVE = 5.0  # seconds an idle keep-alive connection is kept open


def host_names(host: str) -> tuple[str, ...]:
    """The Host names a server bound to ``host`` answers to by default.

    The loopback names, the bind address itself (unless it is a wildcard such as
    ``0.0.0.0``), and for a non-loopback bind this machine's host name, its fully
    qualified name and their addresses.
    """
    names = {*LOOPBACK_NAMES}
    wildcard = host in ("0.0.0.0", "::", "")
    if not wildcard:
        names.add(host.lower())
    if not is_loopback(host):
        for name in {socket.gethostname(), socket.getfqdn()}:
            names.add(name.lower())
            try:
                names.update(a[4][0] for a in socket.getaddrinfo(name, None))
            except OSError:
                pass
    return tuple(sorted(names))


def _timed_h11():
    """uvicorn's h11 protocol with a deadline for each request's headers.

    uvicorn times out idle keep-alive connections but waits forever for headers that
    arrive a byte at a time (slowloris): this closes a connection whose request line
    and headers are not complete ``HEADER_TIMEOUT`` seconds after they began.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class TimedH11Protocol(H11Protocol):
        _header_timer = None

        def _waiting(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(HEADER_TIMEOUT, self._expire)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expire(self) -> None:
            self._header_timer = None
            if self._waiting() and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._waiting():
                self._arm()
            super().data_received(data)
            if not self._waiting():
                self._disarm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

    return TimedH11Protocol


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (a name or an IPv4/IPv6 address).

    The socket is made with proto=IPPROTO_TCP, as getaddrinfo gives it: asyncio turns
    Nagle's algorithm off (TCP_NODELAY) only on connections of such sockets, and
    without that a keep-alive client waits 40 ms (delayed ACK) for every response.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _log_config(log_level: str) -> dict:
    """uvicorn's logging set-up with its own messages from ``log_level`` up (its start-up
    and shutdown lines are INFO, so the default "warning" hides them and keeps warnings
    and errors) and the access log, when on, as plain request lines."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["uvicorn"]["level"] = config["loggers"]["uvicorn.error"]["level"] = log_level.upper()
    config["formatters"]["access"]["fmt"] = '%(client_addr)s - "%(request_line)s" %(status_code)s'
    return config


class WebServer:
    """uvicorn serving ``app`` on ``host:port``.

    The socket is bound in the constructor, so a port in use is a clear error before
    anything starts, and ``port=0`` picks a free port (see :attr:`url`). :meth:`run`
    blocks until Ctrl+C; :meth:`start` / :meth:`stop` run it in a background thread
    (tests, benchmarks).

    Raises
    ------
    OSError
        The address cannot be bound (in use, or not an address of this machine).
    """

    def __init__(self, app, *, host: str = "127.0.0.1", port: int = 8000, access_log: bool = False,
                 log_level: str = "warning"):
        import uvicorn

        try:
            self.socket = _listen(host, port)
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                          f"{'; pick another port with --port' if exc.errno == 98 else ''}") from None
        self.host, self.port = host, self.socket.getsockname()[1]
        config = uvicorn.Config(app, access_log=access_log, log_config=_log_config(log_level),
                                lifespan="on", timeout_graceful_shutdown=5, http=_timed_h11(),
                                timeout_keep_alive=KEEP_ALIVE)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{name}:{self.port}/"

    def run(self) -> None:
        """Serve until interrupted (Ctrl+C or SIGTERM)."""
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self.socket.close()

    def start(self, timeout: float = 30.0) -> "WebServer":
        """Serve from a daemon thread; return once requests are accepted."""
        self._thread = threading.Thread(target=self.run, name="imsim-web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the web server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop a server started with :meth:`start` and wait for its thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
