"""The store as gunicorn serves it, for tests that need real processes.

`gunicorn_store(...)` starts `gunicorn -c gunicorn.conf.py wsgi:app` on a free
loopback port with production settings and yields a `Server`; `Browser` is a
tiny HTTP client that keeps cookies (Secure ones too: the tests speak plain
HTTP to 127.0.0.1) and never follows redirects, so every answer can be checked.
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from config import ROOT
from tests.helpers import CSRF_RE

GUNICORN = Path(sys.executable).with_name("gunicorn")
# Settings a developer's shell may hold that would change what is being tested.
UNSET = (
    "FLASK_DEBUG",
    "FLASK_APP",
    "TRUSTED_HOSTS",
    "RATELIMIT_STORAGE_URI",
    "RATELIMIT_KEY_PREFIX",
    "LOGIN_RATE_LIMIT",
    "GUNICORN_CMD_ARGS",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    text: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def set_cookies(self) -> dict[str, str]:
        """Set-Cookie headers by cookie name, whole (value and flags)."""
        found = {}
        for header in self.headers.get_all("Set-Cookie") or []:
            found[header.split("=", 1)[0].strip()] = header
        return found

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


@dataclass
class Browser:
    """One visitor: a cookie jar and plain HTTP/1.1 requests to one server."""

    port: int
    host: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        form: dict | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        sent = {"Host": self.host or f"127.0.0.1:{self.port}", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            conn.close()
        reply = Reply(response.status, response.headers, text)
        self._keep_cookies(reply)
        return reply

    def _keep_cookies(self, reply: Reply) -> None:
        for name, header in reply.set_cookies.items():
            value = header.split("=", 1)[1].split(";", 1)[0]
            flags = header.lower()
            if not value or "max-age=0" in flags or "01 jan 1970" in flags:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def get(self, path: str, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, form: dict | None = None, **kw) -> Reply:
        return self.request("POST", path, form=form or {}, **kw)

    def submit(self, page: str, action: str, form: dict | None = None) -> Reply:
        """Open `page`, take its CSRF token and post `form` to `action`."""
        html = self.get(page).text
        match = CSRF_RE.search(html)
        assert match, f"{page} has no CSRF token"
        return self.post(action, {"csrf_token": match.group(1), **(form or {})})


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log: Path

    def browser(self, **kw) -> Browser:
        return Browser(self.port, **kw)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def production_env(database_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(
        STORE_ENV="production",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=database_url,
        GUNICORN_LOGLEVEL="info",
    )
    env.update(settings)
    return env


@contextmanager
def gunicorn_store(
    database_url: str,
    log_dir: Path,
    *,
    workers: int = 2,
    threads: int = 1,
    extra_args: tuple[str, ...] = (),
    boot_timeout: float = 45,
    **settings: str,
) -> Iterator[Server]:
    """`gunicorn -c gunicorn.conf.py wsgi:app` on a free port, until the block ends."""
    port = free_port()
    env = production_env(
        database_url,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS=str(workers),
        GUNICORN_THREADS=str(threads),
        **settings,
    )
    log = log_dir / f"gunicorn-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", "gunicorn.conf.py", *extra_args, "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(port, process, log)
    try:
        _wait_until_up(server, boot_timeout)
        yield server
    finally:
        _stop(process)


def _wait_until_up(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"gunicorn exited early:\n{server.log_text()}")
        try:
            if server.browser().get("/healthz", timeout=5).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not answer in {timeout}s:\n{server.log_text()}")


def _stop(process: subprocess.Popen) -> None:
    """Quick shutdown (SIGINT), then kill this server's process group if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
