"""One real-browser test: the server started as the README starts it, Debian's Chromium driven by Playwright.

It types a sentence into the Playground, submits it, and checks that the exit block on the page is the one
core computes for that sentence. A screenshot goes to the test's tmp folder. No browser is ever downloaded:
the test drives /usr/bin/chromium (CI installs it).
"""
from pathlib import Path

import pytest

from core import checkpoint
from core.inference import record
from core.policies import decide, make_policy
from tests.conftest import ARGS, CHROMIUM  # noqa: E402


@pytest.mark.slow
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
