"""One real-browser test: the server started as the README starts it, Debian's Chromium driven by Playwright.

It types a sentence into the Playground, submits it, and checks that the exit block on the page is the one
core computes for that sentence. A screenshot goes to the test's tmp folder. No browser is ever downloaded:
the test drives /usr/bin/chromium (CI installs it).
"""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core import checkpoint
from core.inference import record
from core.policies import decide, make_policy

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(app_models, tmp_path):
    port = _free_port()
    env = dict(os.environ, EXITLENS_MODELS_DIR=str(app_models), EXITLENS_MODEL="tiny-sst2",
               EXITLENS_CACHE=str(app_models.parent / "cache"), EXITLENS_PROJECTION="pca", EXITLENS_OFFLINE="1")
    streamlit = str(Path(sys.executable).with_name("streamlit"))
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([streamlit, "run", "app/streamlit_app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.25)
            if proc.poll() is not None:
                raise RuntimeError((tmp_path / "server.log").read_text())
        else:
            raise RuntimeError("the Streamlit server did not come up in 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_playground_in_a_real_browser(server, app_models, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).is_file(), "this test drives Debian's /usr/bin/chromium: apt-get install chromium"
    text = "an intelligent , moving film that earns every one of its tears ."
    model = checkpoint.load(app_models / "tiny-sst2")
    tr = record(model, checkpoint.load_tokenizer(app_models / "tiny-sst2"), [text], batch_size=1)
    want = int(decide(make_policy("maxprob", threshold=0.6), tr).exit_block[0]) + 1

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        page.goto(f"{server}/?policy=maxprob&threshold=0.6", timeout=60_000)
        area = page.locator("textarea").first
        area.wait_for(timeout=60_000)
        area.fill(text)
        page.locator("button", has_text="Run").first.click()
        metric = page.locator('[data-testid="stMetric"]', has_text="exit block").locator(
            '[data-testid="stMetricValue"]')
        page.wait_for_url(lambda u: "text=an+intelligent" in u or "text=an%20intelligent" in u, timeout=60_000)
        expect(metric).to_have_text(f"{want} of {tr.n_blocks}", timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        shot = tmp_path / "playground.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        browser.close()
