"""Open a report page in headless Chromium and say what is wrong with it; save a full-page screenshot.

:func:`check_page` (or :class:`Chromium`, to check several pages with one browser) loads a local HTML
file and returns a list of :class:`Problem`: console messages of level error (``console.error``, a failed
``console.assert``, an uncaught exception, a resource that failed to load), images that did not load
(``naturalWidth == 0``), local links (``href``/``src`` of any element) to files that do not exist, in-page
links (``#id``) to no element, and tables without a body row. An empty list means the page rendered
cleanly. Links with another scheme (``https:``, ``mailto:``, ``data:``) are not followed: the check runs
offline.

Driver: the Chrome DevTools Protocol over ``--remote-debugging-pipe`` (JSON messages separated by NUL
bytes on file descriptors 3 and 4), spoken here with the standard library alone. Why not the others:

* Selenium needs a Python package plus ``chromium-driver``, a second binary that must match the browser's
  version, and a local TCP port; its console log (``goog:loggingPrefs``) is a chromedriver extension.
* ``chromium --headless --screenshot`` / ``--dump-dom`` cannot screenshot the full page (only the window),
  cannot ask an image for its ``naturalWidth`` and leaves console messages to be scraped from the
  ``--enable-logging=stderr`` log, whose format is not an interface.
* The protocol over a pipe needs only the browser (Debian's ``chromium``), opens no port, reports console
  messages, exceptions and failed loads as structured events, evaluates JavaScript in the page, and
  captures the whole page beyond the window. Puppeteer and Playwright launch Chromium the same way.

The browser runs with ``--no-sandbox`` (required as root, as in CI; the pages are our own local files),
a throw-away profile, no GPU, no background networking, and a fixed window 1280 px wide at device scale
1, so screenshots of the same page have the same size on every machine.

The binary: ``$GMC_CHROMIUM`` (a path or a command name) if set, else the first of ``chromium``,
``chromium-browser`` and ``google-chrome`` on ``PATH``; none is :class:`ChromiumNotFound`, whose message
says how to install it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit
from urllib.request import url2pathname

from gmc.errors import UserError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
WIDTH, HEIGHT = 1280, 800
INSTALL_HINT = "install it (Debian/Ubuntu: `apt-get install chromium`) or set GMC_CHROMIUM to its path"

# Everything the check reads from the page, in one evaluation after the load event.
_INSPECT = r"""
(() => {
  const absolute = (value) => {
    try { return new URL(value, document.baseURI).href; } catch (e) { return null; }
  };
  const links = [];
  for (const el of document.querySelectorAll('[href], [src]')) {
    for (const attr of ['href', 'src']) {
      const raw = el.getAttribute(attr);
      if (raw !== null) links.push({tag: el.tagName.toLowerCase(), attr, raw, url: absolute(raw)});
    }
  }
  const anchors = [...document.querySelectorAll('[id]')].map((el) => el.id)
    .concat([...document.querySelectorAll('a[name]')].map((el) => el.name));
  const images = [...document.images].map((img) => ({
    src: img.getAttribute('src'), loaded: img.complete && img.naturalWidth > 0,
    shown: img.getBoundingClientRect().width > 0,
  }));
  const tables = [...document.querySelectorAll('table')].map((table, i) => ({
    name: table.id ? '#' + table.id : 'number ' + (i + 1),
    rows: [...table.tBodies].reduce((n, body) => n + body.rows.length, 0),
  }));
  const root = document.documentElement;
  return {
    url: document.URL, links, anchors, images, tables,
    width: Math.max(root.scrollWidth, document.body ? document.body.scrollWidth : 0),
    height: Math.max(root.scrollHeight, document.body ? document.body.scrollHeight : 0),
  };
})()
"""
# Resolves after two frames were drawn (and a moment for late errors): the page is laid out and painted.
_SETTLE = (
    "new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 50))))"
)


class BrowserError(UserError, RuntimeError):
    """Chromium could not be started or stopped answering; the message says why and what to do."""


class ChromiumNotFound(BrowserError):
    """No Chromium binary was found; the message names the fix."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a page: ``kind`` is ``console``, ``image``, ``link`` or ``table``."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def find_chromium() -> str:
    """The Chromium binary to run (module docstring); :class:`ChromiumNotFound` when there is none."""
    chosen = os.environ.get("GMC_CHROMIUM")
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise ChromiumNotFound(f"GMC_CHROMIUM={chosen!r} is not an executable; {INSTALL_HINT}")
        return found
    for name in CANDIDATES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise ChromiumNotFound(f"no Chromium found (looked for {', '.join(CANDIDATES)} on PATH); {INSTALL_HINT}")


def _console_problem(event: dict) -> Problem | None:
    """A :class:`Problem` for a DevTools console, exception or log event of level error, else ``None``."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        words = [str(a.get("value", a.get("description", a.get("type")))) for a in params.get("args", [])]
        frames = params.get("stackTrace", {}).get("callFrames", [])
        where = f" ({frames[0]['url']}:{frames[0]['lineNumber'] + 1})" if frames else ""
        return Problem("console", f"console.{params['type']}: {' '.join(words)}{where}")
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        text = details.get("exception", {}).get("description") or details.get("text", "exception")
        where = f" ({details['url']}:{details.get('lineNumber', 0) + 1})" if details.get("url") else ""
        return Problem("console", f"uncaught {text.splitlines()[0]}{where}")
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        entry = params["entry"]
        where = f" ({entry['url']})" if entry.get("url") else ""
        return Problem("console", f"{entry.get('text', '')}{where}")
    return None


def _page_problems(found: dict) -> list[Problem]:
    """Problems with images, links and tables in the result of ``_INSPECT``."""
    problems = [
        Problem("image", f"<img src={img['src']!r}> did not load (naturalWidth 0)")
        for img in found["images"]
        if not img["loaded"]
    ]
    problems += [
        Problem("image", f"<img src={img['src']!r}> is not shown (width 0)")
        for img in found["images"]
        if img["loaded"] and not img["shown"]
    ]
    page = urldefrag(found["url"]).url
    anchors, seen = set(found["anchors"]), set()
    for link in found["links"]:
        key = (link["tag"], link["attr"], link["raw"])
        if key in seen or link["url"] is None:
            continue
        seen.add(key)
        target, fragment = urldefrag(link["url"])
        parts = urlsplit(target)
        if parts.scheme != "file":
            continue  # http(s), mailto, data, javascript: not followed offline
        shown = f"<{link['tag']} {link['attr']}={link['raw']!r}>"
        if target == page:
            if fragment and fragment != "top" and unquote(fragment) not in anchors:
                problems.append(Problem("link", f"{shown}: no element with id {unquote(fragment)!r}"))
            continue
        path = Path(url2pathname(parts.path))
        if not path.exists():
            problems.append(Problem("link", f"{shown}: {path} does not exist"))
    problems += [
        Problem("table", f"table {t['name']} has no rows") for t in found["tables"] if t["rows"] == 0
    ]
    return problems


_ARGS = (
    "--headless",
    "--no-sandbox",
    "--remote-debugging-pipe",
    "--force-device-scale-factor=1",
    "--hide-scrollbars",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
)
# The protocol pipe is fds 3 (commands to the browser) and 4 (its replies and events). The browser's two
# ends are given as stdin and stdout, which subprocess places reliably; the shell moves them to 3 and 4
# (sh allows one-digit descriptors only), sends the browser's own output to stderr and runs it.
_REDIRECT = 'exec "$0" "$@" 3<&0 4>&1 </dev/null 1>&2'


class Chromium:
    """One headless Chromium process; :meth:`check` opens each page in a new tab. Use as a context
    manager (or call :meth:`close`)."""

    def __init__(
        self, binary: str | None = None, *, width: int = WIDTH, height: int = HEIGHT, timeout: float = 60.0
    ):
        self.binary = binary or find_chromium()
        self.width, self.height, self.timeout = width, height, timeout
        self._profile = tempfile.mkdtemp(prefix="gmc-chromium-")
        self._log = open(Path(self._profile) / "stderr.log", "w+b")  # noqa: SIM115 (closed in close())
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()
        try:
            self._process = subprocess.Popen(
                ["/bin/sh", "-c", _REDIRECT, self.binary, *_ARGS, f"--window-size={width},{height}"]
                + [f"--user-data-dir={self._profile}", "about:blank"],
                stdin=to_browser,
                stdout=from_browser,
                stderr=self._log,
                start_new_session=True,  # its own process group: close() can end its helpers too
            )
        except BaseException:
            os.close(self._commands)
            os.close(self._replies)
            self._cleanup()
            raise
        finally:
            os.close(to_browser)
            os.close(from_browser)
        self._buffer = b""
        self._events: list[dict] = []
        self._next_id = 0
        self._closed = False
        try:
            self.version = self._call("Browser.getVersion")["product"]
        except BaseException:
            self.close()
            raise

    # -------------------------------------------------------------------------------- protocol
    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._commands, data) :]
        except BrokenPipeError:
            raise self._died(f"sending {method}") from None
        return self._next_id

    def _receive(self, wanted, deadline: float, what: str) -> dict:
        """Read messages until ``wanted(message)``; the others are kept as events."""
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if wanted(message):
                    return message
                if "method" in message:
                    self._events.append(message)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise BrowserError(
                    f"Chromium gave no answer to {what} within {self.timeout:g} s{self._stderr_tail()}"
                )
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise self._died(f"waiting for {what}")
            self._buffer += chunk

    def _call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        number = self._send(method, params, session)
        reply = self._receive(lambda m: m.get("id") == number, time.monotonic() + self.timeout, method)
        if "error" in reply:
            raise BrowserError(f"Chromium refused {method}: {reply['error'].get('message', reply['error'])}")
        return reply.get("result", {})

    def _stderr_tail(self, lines: int = 12) -> str:
        try:
            self._log.flush()
            text = Path(self._log.name).read_text(errors="replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return ("; its last output:\n" + "\n".join(text[-lines:])) if text else ""

    def _died(self, what: str) -> BrowserError:
        code = self._process.poll()
        status = f"exited with status {code}" if code is not None else "closed its protocol pipe"
        return BrowserError(f"Chromium ({self.binary}) {status} while {what}{self._stderr_tail()}")

    # ------------------------------------------------------------------------------------ pages
    def check(self, page: str | Path, screenshot: str | Path | None = None) -> list[Problem]:
        """Load ``page`` (a local HTML file), return its problems (module docstring); with ``screenshot``,
        also save a PNG of the whole page there (at least the window, wider when the page is)."""
        page = Path(page).resolve()
        if not page.is_file():
            raise BrowserError(f"no page {page} to check")
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        try:
            return self._check(page, session, screenshot)
        finally:
            with contextlib.suppress(BrowserError):  # a dead browser: the error on the way out says so
                self._call("Target.closeTarget", {"targetId": target})

    def _check(self, page: Path, session: str, screenshot) -> list[Problem]:
        for domain in ("Page", "Runtime", "Log", "Inspector"):
            self._call(f"{domain}.enable", session=session)
        self._call("Page.setLifecycleEventsEnabled", {"enabled": True}, session=session)
        metrics = {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False}
        self._call("Emulation.setDeviceMetricsOverride", metrics, session=session)
        start = len(self._events)
        navigated = self._call("Page.navigate", {"url": page.as_uri()}, session=session)
        if navigated.get("errorText"):
            raise BrowserError(f"Chromium could not open {page}: {navigated['errorText']}")

        def loaded(message):  # the load event (every image loaded or failed) of this navigation
            params = message.get("params", {})
            return (
                message.get("method") == "Page.lifecycleEvent"
                and message.get("sessionId") == session
                and params.get("name") == "load"
                and params.get("loaderId") == navigated.get("loaderId")
            )

        def crashed(message):
            return message.get("method") == "Inspector.targetCrashed" and message.get("sessionId") == session

        done = next((e for e in self._events[start:] if loaded(e) or crashed(e)), None)
        if done is None:
            deadline = time.monotonic() + self.timeout
            done = self._receive(lambda m: loaded(m) or crashed(m), deadline, f"the load event of {page}")
        if crashed(done):
            raise BrowserError(f"Chromium's renderer crashed on {page}{self._stderr_tail()}")
        self._evaluate(_SETTLE, session, wait=True)
        found = self._evaluate(_INSPECT, session)
        problems = [
            p for e in self._events[start:] if e.get("sessionId") == session and (p := _console_problem(e))
        ]
        problems += _page_problems(found)
        if screenshot is not None:
            self._screenshot(Path(screenshot), session, found)
        return problems

    def _evaluate(self, expression: str, session: str, wait: bool = False):
        params = {"expression": expression, "returnByValue": True, "awaitPromise": wait}
        result = self._call("Runtime.evaluate", params, session=session)
        if "exceptionDetails" in result:
            raise BrowserError(f"the page check's script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def _screenshot(self, path: Path, session: str, found: dict) -> None:
        from gmc.io import atomic_write

        clip = {
            "x": 0,
            "y": 0,
            "width": max(self.width, found["width"]),
            "height": max(self.height, found["height"]),
            "scale": 1,
        }
        params = {"format": "png", "captureBeyondViewport": True, "clip": clip}
        data = base64.b64decode(self._call("Page.captureScreenshot", params, session=session)["data"])
        atomic_write(path, lambda p: p.write_bytes(data))

    # ---------------------------------------------------------------------------------- closing
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._process.poll() is None:
                self._send("Browser.close")
                self._process.wait(timeout=5)
        except (BrowserError, subprocess.TimeoutExpired):
            pass
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        for fd in (self._commands, self._replies):
            os.close(fd)
        self._cleanup()

    def _cleanup(self) -> None:
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_page(page: str | Path, screenshot: str | Path | None = None, **options) -> list[Problem]:
    """:meth:`Chromium.check` with a browser of its own (``options``: those of :class:`Chromium`)."""
    with Chromium(**options) as browser:
        return browser.check(page, screenshot)
