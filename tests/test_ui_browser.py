"""The studio in headless Chromium: every tab renders its controls, a generation started from
the page plays for 2 s, clips pass between tabs, and an edit shows source and result side by
side, joins the comparison board and can be edited again.

Chromium is driven through the DevTools protocol over a pipe (--remote-debugging-pipe), so
no browser-automation package is needed.
"""

import base64
import io
import json
import os
import shutil
import subprocess
import threading
import time

import numpy as np
import pytest
from PIL import Image

from studio.ui import build_app

CHROMIUM = next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium; .ci/run "
                                                         "does it when run as root)")
VIEWPORT = (1280, 1600)


class Browser:
    """One headless Chromium page; commands go to fd 3, replies come from fd 4, each a JSON
    message ended by a NUL byte."""

    def __init__(self, binary: str, profile_dir: str):
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def wire_pipes():
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)

        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile_dir}", "--remote-debugging-pipe", "--mute-audio",
                f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "about:blank"]
        self.process = subprocess.Popen(args, preexec_fn=wire_pipes, pass_fds=(3, 4), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._replies, self._next_id = {}, 0
        self._arrived = threading.Condition()
        threading.Thread(target=self._read_replies, daemon=True).start()
        page = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        self.send("Page.enable", page=True)
        self.send("Emulation.setDeviceMetricsOverride", page=True, width=VIEWPORT[0], height=VIEWPORT[1],
                  deviceScaleFactor=1, mobile=False)

    def _read_replies(self):
        buffer = b""
        while chunk := os.read(self._from_browser, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._arrived:
                        self._replies[message["id"]] = message
                        self._arrived.notify_all()

    def send(self, method: str, page: bool = False, timeout_s: float = 30, **params) -> dict:
        with self._arrived:
            self._next_id += 1
            message_id = self._next_id
        message = {"id": message_id, "method": method, "params": params}
        if page:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        with self._arrived:
            if not self._arrived.wait_for(lambda: message_id in self._replies, timeout_s):
                raise TimeoutError(f"{method} got no reply in {timeout_s} s")
            reply = self._replies.pop(message_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def js(self, expression: str):
        """The value of a JavaScript expression (awaited; DOM nodes come back as {})."""
        result = self.send("Runtime.evaluate", page=True, expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 60):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if value := self.js(expression):
                return value
            time.sleep(0.2)
        raise TimeoutError(f"waited {timeout_s} s for: {expression}")

    def click(self, element: str) -> None:
        """A real mouse click at the centre of the element the expression finds."""
        self.js(f"({element}).scrollIntoView({{block: 'center', behavior: 'instant'}})")
        time.sleep(0.3)  # let lazy content settle before measuring
        x, y = self.js(f"(() => {{const r = ({element}).getBoundingClientRect(); "
                       "return [r.x + r.width / 2, r.y + r.height / 2]})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", page=True, type=kind, x=x, y=y, button="left", clickCount=1)

    def type_into(self, element: str, text: str) -> None:
        self.js(f"(() => {{const e = {element}; e.value = {json.dumps(text)}; "
                "e.dispatchEvent(new Event('input', {bubbles: true})); return true})()")

    def screenshot(self) -> Image.Image:
        data = self.send("Page.captureScreenshot", page=True, format="png")["data"]
        return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout_s=5)
            self.process.wait(10)
        except (TimeoutError, RuntimeError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


# ---------------------------------------------------------------- page helpers

def tab_button(label: str) -> str:
    return f"[...document.querySelectorAll('button[role=tab]')].find(b => b.textContent.trim() == '{label}')"


def visible_text(text: str) -> str:
    """True when some visible element's own text contains `text`."""
    return (f"[...document.querySelectorAll('label, span, button, p, h3, strong, div')].some(e => "
            f"e.offsetParent !== null && [...e.childNodes].some(n => n.nodeType === 3 && "
            f"n.textContent.includes({json.dumps(text)})))")


def missing_controls(controls: list[str]) -> str:
    """The controls (#id or a visible text) not on screen, as a JS expression."""
    checks = [f"document.querySelector('{c}')?.offsetParent != null" if c.startswith("#") else visible_text(c)
              for c in controls]
    return "[" + ", ".join(f"({check}) ? null : {json.dumps(c)}" for check, c in zip(checks, controls)) + \
        "].filter(c => c)"


def detected(task: str) -> str:
    return f"[...document.querySelectorAll('p')].some(p => p.textContent.startsWith('Detected task: {task}'))"


def videos_in(selector: str) -> str:
    """[(duration, [left, top, right, bottom]), ...] of every loaded <video> under `selector`, or null."""
    return (f"(() => {{const vs = [...document.querySelectorAll('{selector} video')].filter(v => v.src); "
            "return vs.length && vs.every(v => v.readyState >= 1 && isFinite(v.duration)) ? vs.map(v => {"
            "const r = v.getBoundingClientRect(); return [v.duration, [r.left, r.top, r.right, r.bottom]]}) "
            ": null})()")


def not_blank(image: Image.Image) -> float:
    """Fraction of pixels that differ from the page's most common colour."""
    packed = np.asarray(image).astype(np.int32) @ np.array([1 << 16, 1 << 8, 1])  # (H, W) one int per colour
    return float((packed != np.bincount(packed.ravel()).argmax()).mean())


@pytest.fixture(scope="module")
def page(tiny_checkpoint, tmp_path_factory, free_port):
    demo = build_app(tiny_checkpoint)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    browser = Browser(CHROMIUM, str(tmp_path_factory.mktemp("chromium-profile")))
    try:
        browser.send("Page.navigate", page=True, url=f"http://127.0.0.1:{port}/")
        browser.wait_for("document.querySelectorAll('button[role=tab]').length >= 4")
        yield browser
    finally:
        browser.close()
        demo.close()


# ---------------------------------------------------------------- tests

TABS = {
    "Text → Video": ["#text-run", "Prompt", "Negative prompt", "Seed", "Random seed", "Candidates", "Steps",
                     "Guidance", "Example prompts", "Send to Edit →", "Animate a frame →"],
    "Image + Text → Video": ["#image-input", "#image-run", "First frame", "Example images"],
    "Edit": ["#edit-source", "#edit-run", "Instruction", "Detected task", "Task", "Text guidance",
             "Source-video guidance", "Keep the source audio", "Keep unedited pixels", "Example sources",
             "Comparison board"],
    "Model": ["Checkpoint:", "Load another checkpoint folder", "Load", "Metrics (metrics.json)"],
}


@pytest.mark.parametrize("label", TABS)
def test_each_tab_renders_its_controls(page, label, tmp_path):
    page.click(tab_button(label))
    deadline = time.monotonic() + 15
    while (missing := page.js(missing_controls(TABS[label]))) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not missing
    page.js("window.scrollTo(0, 0)")
    shot = page.screenshot()
    shot.save(tmp_path / f"{label.split()[0].lower()}.png")
    assert shot.size == VIEWPORT and not_blank(shot) > 0.01  # a blank page is 0


def test_a_generation_from_the_page_plays_two_seconds_and_moves_between_tabs(page):
    """Text → Video, then its clip to Edit, and one of its frames animated in Image + Text → Video."""
    page.click(tab_button("Text → Video"))
    page.type_into("document.querySelector('textarea')", "a large red circle moving left on a navy background")
    page.click("document.querySelector('#text-run')")
    (duration, _), = page.wait_for(videos_in("#text-results"))
    assert abs(duration - 2.0) < 0.1
    page.wait_for(visible_text("Candidate 1 · seed"))

    page.click("[...document.querySelectorAll('#text-results button')].find(b => b.textContent.includes('Edit'))")
    page.wait_for(f"{tab_button('Edit')}.getAttribute('aria-selected') == 'true'", timeout_s=10)
    (duration, _), = page.wait_for(videos_in("#edit-source"))
    assert abs(duration - 2.0) < 0.1

    page.click(tab_button("Text → Video"))
    page.click("[...document.querySelectorAll('#text-results button')].find(b => b.textContent.includes('frame'))")
    page.wait_for(f"{tab_button('Image + Text → Video')}.getAttribute('aria-selected') == 'true'", timeout_s=20)
    page.wait_for("document.querySelector('#image-input img')?.naturalWidth > 0", timeout_s=20)
    page.type_into("document.querySelector('#image-input').closest('.row').querySelector('textarea')",
                   "the circle keeps moving left")
    page.click("document.querySelector('#image-run')")
    (duration, _), = page.wait_for(videos_in("#image-results"))
    assert abs(duration - 2.0) < 0.1


def test_an_edit_shows_source_and_result_side_by_side_and_joins_the_board(page):
    page.click(tab_button("Edit"))
    row = "[...document.querySelectorAll('tr')].find(r => r.textContent.includes('make it grayscale'))"
    page.wait_for(f"{row}?.querySelector('video') != null")
    page.click(f"{row}.querySelector('td')")
    page.wait_for("[...document.querySelectorAll('textarea')].some(t => t.value == 'make it grayscale')")
    page.wait_for(detected("style"), timeout_s=10)
    page.click("document.querySelector('#edit-run')")

    (source_s, source_box), (result_s, result_box) = page.wait_for(videos_in("#edit-results"))
    assert abs(source_s - 2.0) < 0.1 and abs(result_s - 2.0) < 0.1
    assert abs(source_box[1] - result_box[1]) < 5 and source_box[2] <= result_box[0]  # same row, source first
    page.wait_for("document.querySelector('#edit-board')?.textContent.includes('make it grayscale')")
    assert page.js("document.querySelector('#edit-board').textContent.includes('background;')")  # judge's verdict
    compared = page.wait_for(videos_in("#edit-compare"))
    assert len(compared) == 2 and compared[0][1][2] <= compared[1][1][0]

    page.click("[...document.querySelectorAll('#edit-results button')].find(b => b.textContent.includes('again'))")
    page.wait_for("document.querySelector('#edit-source video')?.src.includes('flipbook-edit-seed')", timeout_s=10)
    page.type_into("[...document.querySelectorAll('textarea')].find(t => t.value == 'make it grayscale')",
                   "play it backwards")
    page.wait_for(detected("reverse"), timeout_s=10)
    page.click("document.querySelector('#edit-run')")
    page.wait_for(visible_text("Edit chain:"))
    page.wait_for("document.querySelector('#edit-board')?.textContent.includes('play it backwards')")
    assert page.js("document.querySelector('#edit-board').textContent.includes('not a Shapes World clip')")
    page.wait_for("document.querySelector('#edit-compare video')?.src == "  # left: the new source, not the first
                  "document.querySelector('#edit-results video').src", timeout_s=10)
