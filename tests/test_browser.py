"""A real browser: JupyterLab on 127.0.0.1, headless Chromium driven by Playwright.

It opens the first lesson, runs every cell, moves a slider as a learner would (with the keyboard in
the notebook; with the mouse in its RISE slide view, in the classroom theme a projector gets), and
checks that what the widget shows has changed. A screenshot lands in test-artifacts/.
Skips (with the fix) where Debian's Chromium is not installed.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "00_start_here.ipynb"
CHINESE = f"zh_CN/{NOTEBOOK}"  # the same lesson in the Chinese edition (python -m gptlab.i18n build)
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.browser

if CHROMIUM is None:
    pytest.skip("Chromium is not installed; `apt-get install -y chromium` (Debian) enables this test",
                allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="`pip install playwright` enables this test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on loopback, serving a copy of the notebooks (the repo stays untouched)."""
    yield from _lab(tmp_path_factory, theme="notebook")


@pytest.fixture(scope="module")
def classroom_lab(tmp_path_factory):
    """The same, started as a teacher would for a projector: GPTLAB_THEME=classroom jupyter lab."""
    yield from _lab(tmp_path_factory, theme="classroom")


def _lab(tmp_path_factory, theme: str):
    workdir = tmp_path_factory.mktemp(f"lab-{theme}")
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, workdir / NOTEBOOK)
    (workdir / "zh_CN").mkdir()
    shutil.copy(ROOT / "notebooks" / CHINESE, workdir / CHINESE)
    port, token = _free_port(), "gptlab-test"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workdir}",
           # JupyterLab remembers open tabs per workspace, by default in the user's settings: a tab
           # left open by one test would come back in the next (two notebooks, two indicators)
           f"--LabApp.workspaces_dir={workdir / 'workspaces'}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(workdir / "lab.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
                            env={**os.environ, "GPTLAB_THEME": theme})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited early:\n{(workdir / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
    else:
        proc.terminate()
        pytest.fail("JupyterLab did not answer within 60 s")
    yield url, token
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("notebook", [NOTEBOOK, CHINESE], ids=["en", "zh_CN"])
def test_lesson_runs_and_slider_changes_the_widget(lab, notebook):
    """Both editions: Run All, then move the first slider; in the Chinese one the explorer's
    summary is Chinese too (gptlab.set_language, run by the lesson's first cell)."""
    url, token = lab
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            workspace = "en" if notebook == NOTEBOOK else "zh"  # one workspace per edition: one open notebook
            page.goto(f"{url}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={token}", timeout=60_000)
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            # a kernel dialog may ask which kernel to start: take the suggested one
            dialog = page.locator(".jp-Dialog button.jp-mod-accept")
            try:
                dialog.wait_for(timeout=5_000)
                dialog.click()
            except playwright_sync.TimeoutError:
                pass
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
            page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            # Run All has finished when the last code cell shows its execution number and the kernel
            # is idle (JupyterLab only renders the cells in view, so look at the last one)
            page.wait_for_function(
                """() => {
                    const prompts = document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt');
                    const last = prompts[prompts.length - 1];
                    const idle = document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']");
                    return last && idle && /\\[\\d+\\]/.test(last.innerText);
                }""", timeout=180_000)
            slider = page.locator(".widget-slider .noUi-handle").first
            slider.scroll_into_view_if_needed(timeout=30_000)
            summary = page.locator(".widget-html pre").first
            summary.wait_for(timeout=60_000)
            before_text = summary.inner_text()
            before_img = page.locator(".widget-image").first.get_attribute("src")
            slider.focus()
            for _ in range(8):
                page.keyboard.press("ArrowRight")
            page.wait_for_function(
                """([old_text, old_src]) => {
                    const text = document.querySelector('.widget-html pre');
                    const img = document.querySelector('.widget-image');
                    return text && img && text.innerText !== old_text && img.getAttribute('src') !== old_src;
                }""", arg=[before_text, before_img], timeout=30_000)
            after_text = summary.inner_text()
            after_img = page.locator(".widget-image").first.get_attribute("src")
            name = "browser_slider.png" if notebook == NOTEBOOK else "browser_slider_zh_CN.png"
            page.screenshot(path=str(artifacts / name), full_page=False)
        except Exception:
            page.screenshot(path=str(artifacts / "browser_failure.png"))
            raise
        finally:
            browser.close()
    assert after_text != before_text
    assert after_img != before_img
    assert _has_chinese(after_text) == (notebook == CHINESE), after_text


def test_lesson_in_slide_mode_widget_slide_answers_a_slider(classroom_lab):
    """RISE (jupyterlab-rise), in the classroom theme: run the lesson, open it at /rise/<notebook>
    (its slide view, same kernel), step to the slide that holds the widget, check that its
    projector-sized picture fits the screen's width and that the slide scrolls when taller than the
    screen, then move its slider and see the picture change."""
    url, token = classroom_lab
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    start = time.time()
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 800})  # a projector's size
        try:
            # 1. run every cell in JupyterLab and save, so the kernel holds the live widget
            page.goto(f"{url}/lab/workspaces/slides/tree/{NOTEBOOK}?reset&token={token}", timeout=60_000)
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            dialog = page.locator(".jp-Dialog button.jp-mod-accept")
            try:
                dialog.wait_for(timeout=5_000)
                dialog.click()
            except playwright_sync.TimeoutError:
                pass
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
            page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            page.wait_for_selector(".widget-slider .noUi-handle", timeout=60_000)
            page.wait_for_function(
                """() => document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']")""",
                timeout=60_000)
            page.keyboard.press("Control+s")
            page.wait_for_timeout(1_000)
            # 2. the slide view: RISE's page for this notebook, on the kernel session of its path
            page.goto(f"{url}/rise/{NOTEBOOK}?token={token}", timeout=60_000)
            page.wait_for_selector(".reveal .slides section", timeout=60_000)
            # the widgets draw once the page's widget manager has their models from the kernel:
            # wait for that before stepping, or the widget's slide can be passed while still empty
            page.wait_for_selector(".reveal .widget-slider .noUi-handle", state="attached", timeout=60_000)
            present = ".reveal .slides section.present"
            for _ in range(30):  # step slide by slide until the widget's slide is on screen
                if page.locator(f"{present} .widget-slider .noUi-handle").count():
                    break
                page.locator(".reveal").first.click(position={"x": 5, "y": 5})  # command mode, not a cell editor
                page.keyboard.press("Escape")
                page.keyboard.press("Space")
                page.wait_for_timeout(300)
            handle = page.locator(f"{present} .widget-slider .noUi-handle").first
            handle.wait_for(timeout=30_000)
            image = page.locator(f"{present} .widget-image").first
            before = image.get_attribute("src")
            # drag it with the mouse, as a teacher at the projector would (in slide mode the arrow
            # keys belong to reveal.js, which turns the page instead of moving the slider)
            page.wait_for_function(  # the slide transition has ended: the handle is inside the window
                """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                              return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth
                                     && r.top >= 0 && r.bottom <= window.innerHeight; }""",
                arg=f"{present} .widget-slider .noUi-handle", timeout=30_000)
            page.wait_for_function(  # and the picture has its final size (reveal.js's transition takes ~1 s)
                """(sel) => new Promise(done => {
                       const width = () => document.querySelector(sel + ' .widget-image').getBoundingClientRect().right;
                       const first = width();
                       setTimeout(() => done(Math.abs(width() - first) < 0.5), 1000); })""",
                arg=present, timeout=30_000)
            fit = page.evaluate(
                """(sel) => { const img = document.querySelector(sel + ' .widget-image');
                              const slide = document.querySelector(sel + ' section.present') ||
                                            document.querySelector(sel);
                              return {natural: img.naturalWidth, right: img.getBoundingClientRect().right,
                                      window: window.innerWidth, overflow: getComputedStyle(slide).overflowY,
                                      content: slide.scrollHeight, shown: slide.clientHeight}; }""", present)
            box = handle.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + 30, y, steps=6)  # along the track (short beside 20-px labels), not past it
            page.mouse.up()
            page.wait_for_function(
                """([sel, old]) => { const img = document.querySelector(sel);
                                     return img && img.getAttribute('src') !== old; }""",
                arg=[f"{present} .widget-image", before], timeout=30_000)
            after = image.get_attribute("src")
            page.screenshot(path=str(artifacts / "browser_slides.png"), full_page=False)
        except Exception:
            page.screenshot(path=str(artifacts / "browser_slides_failure.png"))
            raise
        finally:
            browser.close()
    assert after != before
    assert fit["natural"] >= 1100, f"the classroom theme draws explorer pictures 1100 px wide or more: {fit}"
    assert fit["right"] <= fit["window"], f"the picture runs past the right edge of the screen: {fit}"
    if fit["content"] > fit["shown"] + 1:  # metadata.rise.scroll: a tall slide scrolls, nothing is cut off
        assert fit["overflow"] in ("scroll", "auto"), f"a slide taller than the screen does not scroll: {fit}"
    assert time.time() - start < 60, f"the slide-mode test took {time.time() - start:.0f} s"
