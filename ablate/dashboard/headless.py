"""Check a dashboard page in headless Chromium: console errors, rendered figures, a screenshot.

Drives Chromium through the Chrome DevTools Protocol over a loopback websocket, with a minimal
websocket client built on the standard library (no extra package). Used by the browser test and
runnable by hand on any page::

    python -m ablate.dashboard.headless results/<name>/dashboard.html --screenshot page.png

Chromium is started with a fresh profile, no network services, and `--remote-debugging-port=0`;
the chosen port is read from the `DevToolsActivePort` file in the profile directory.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PageReport", "check_page", "find_chromium"]

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--no-first-run", "--disable-component-update", "--disable-sync",
    "--enable-unsafe-swiftshader",  # software WebGL, which parallel-coordinates plots need
    "--window-size=1320,900",
)

# Counts figure containers and those holding plotly's rendered SVG root.
_RENDER_PROBE = """(() => {
  const plots = Array.from(document.querySelectorAll('div.plot'));
  const rendered = plots.filter(d => d.querySelector('svg.main-svg') !== null);
  return JSON.stringify({figures: plots.length, rendered: rendered.map(d => d.id),
                         ready: document.readyState});
})()"""


@dataclass
class PageReport:
    """What the browser saw on a page.

    Attributes:
        figures: Number of figure containers (`div.plot`).
        rendered: Ids of containers that hold a rendered plotly SVG.
        console_errors: Console errors, uncaught exceptions and error log entries, as text.
        screenshot: Path of the full-page PNG, when one was requested.
    """

    figures: int = 0
    rendered: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    screenshot: Path | None = None


def find_chromium() -> str | None:
    """Return the path of a Chromium or Chrome executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _WebSocket:
    """A minimal RFC 6455 client: text frames, masking, fragmentation; enough for DevTools."""

    def __init__(self, port: int, path: str, timeout: float):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the websocket handshake")
            response += chunk
        head, self.buffer = response.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"websocket handshake failed: {head[:200]!r}")

    def send(self, text: str) -> None:
        payload = text.encode()
        header = bytearray([0x81])
        if len(payload) < 126:
            header.append(0x80 | len(payload))
        elif len(payload) < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes(header) + mask + masked)

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise ConnectionError("DevTools closed the websocket")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def receive(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(length)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the websocket")
            if opcode in (0x0, 0x1, 0x2):
                message += payload
                if first & 0x80:
                    return message.decode()

    def close(self) -> None:
        self.sock.close()


class _DevTools:
    """Sends DevTools commands and collects the events that arrive meanwhile."""

    def __init__(self, ws: _WebSocket):
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method} failed: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)


def _error_texts(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(params["entry"].get("text", ""))
    return errors


def _wait_for_port(profile: Path, process: subprocess.Popen, timeout: float) -> int:
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_file.exists():
            lines = port_file.read_text().split()
            if lines:
                return int(lines[0])
        if process.poll() is not None:
            raise RuntimeError(f"Chromium exited with code {process.returncode} before DevTools started")
        time.sleep(0.1)
    raise TimeoutError(f"Chromium did not open a DevTools port within {timeout:.0f} s")


def check_page(
    page: str | Path, *, screenshot: str | Path | None = None, timeout: float = 60.0,
    chromium: str | None = None,
) -> PageReport:
    """Open `page` from a file:// URL in headless Chromium and report what rendered.

    Waits until every figure container contains a rendered SVG or `timeout` passes, then
    optionally saves a full-page screenshot.

    Raises:
        FileNotFoundError: When no Chromium executable is found.
        TimeoutError: When Chromium does not start within `timeout`.
    """
    executable = chromium or find_chromium()
    if executable is None:
        raise FileNotFoundError("no Chromium executable on PATH (tried chromium, chromium-browser, google-chrome)")
    url = Path(page).resolve().as_uri()
    profile = Path(tempfile.mkdtemp(prefix="ablate-chromium-"))
    process = subprocess.Popen(
        [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        port = _wait_for_port(profile, process, timeout)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        connection.request("PUT", "/json/new?about:blank")
        target = json.loads(connection.getresponse().read())
        connection.close()
        ws_path = "/" + target["webSocketDebuggerUrl"].split("/", 3)[3]
        tools = _DevTools(_WebSocket(port, ws_path, timeout))
        return _inspect(tools, url, screenshot, timeout)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _inspect(tools: _DevTools, url: str, screenshot: str | Path | None, timeout: float) -> PageReport:
    for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
        tools.call(domain)
    tools.call("Page.navigate", url=url)
    report = PageReport()
    deadline = time.monotonic() + timeout
    while True:
        state = json.loads(tools.call("Runtime.evaluate", expression=_RENDER_PROBE)["result"]["value"])
        report.figures, report.rendered = state["figures"], state["rendered"]
        done = state["ready"] == "complete" and len(report.rendered) == report.figures
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    time.sleep(0.5)  # let late errors of asynchronous drawing arrive
    tools.call("Runtime.evaluate", expression="0")
    if screenshot is not None:
        size = tools.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        image = tools.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)
        report.screenshot = Path(screenshot)
        report.screenshot.write_bytes(base64.b64decode(image["data"]))
    report.console_errors = _error_texts(tools.events)
    tools.ws.close()
    return report


def main(argv: list[str] | None = None) -> int:
    """Check one page and print the report; exit 1 on console errors or unrendered figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", help="path of the HTML page")
    parser.add_argument("--screenshot", help="write a full-page PNG here")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
    args = parser.parse_args(argv)
    report = check_page(args.page, screenshot=args.screenshot, timeout=args.timeout)
    print(f"figures: {report.figures}, rendered: {len(report.rendered)}, console errors: {len(report.console_errors)}")
    for error in report.console_errors:
        print(f"  error: {error}")
    ok = not report.console_errors and len(report.rendered) == report.figures
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
