"""What the browser tests share: headless Chromium (Debian's chromium and chromium-driver,
through selenium) and a Datasette server on a free port of 127.0.0.1. A test module calls
`require_browser(what)` first, so that without a browser it is skipped with one line."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def require_browser(what: str) -> None:
    """Skip the calling module, in one line, where selenium or the browser is missing."""
    pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(
            "no browser: Debian's chromium and chromium-driver are not installed (make test "
            f"installs them as root): {what} are skipped",
            allow_module_level=True,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def datasette(
    db: Path,
    metadata: Path,
    *,
    extra: Sequence[str] = (),
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """`datasette serve DB -m METADATA` on a free port, until the block ends: its base URL.
    The server must not have printed a traceback by then."""
    port = free_port()
    command = [sys.executable, "-m", "datasette", "serve", str(db), "-m", str(metadata)]
    command += [*extra, "-p", str(port)]
    server = subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=10)
    assert b"Traceback" not in stderr, stderr.decode()


@contextmanager
def headless_chromium() -> Iterator[object]:
    """A selenium driver of headless Chromium, 1200 x 1800, quit when the block ends."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1800"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
