"""One real-browser test: the server started as the README starts it, Debian's Chromium driven by Playwright.

It types a sentence into the Playground, submits it, and checks that the exit block on the page is the one
core computes for that sentence. A screenshot goes to the test's tmp folder. No browser is ever downloaded:
the test drives /usr/bin/chromium (CI installs it).
"""
from pathlib import Path

import pytest

from core.model import checkpoint
from core.policies import decide, make_policy
from core.run import record
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
        metric = page.locator('[data-testid="stMetric"]', has_text="exit block").first.locator(
            '[data-testid="stMetricValue"]')
        page.wait_for_url(lambda u: "text=an+intelligent" in u or "text=an%20intelligent" in u, timeout=60_000)
        expect(metric).to_have_text(f"{want} of {tr.n_blocks}", timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        shot = tmp_path / "playground.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        browser.close()


@pytest.mark.slow
def test_every_page_stays_on_its_own_server_with_a_clean_console(server, tmp_path):
    """Opened at its root and navigated through every page as a user would (the sidebar's links), the app
    makes no request to another host — no web font or CDN; the icon font is Streamlit's own, served by the app —
    and the browser console stays empty."""
    from urllib.parse import urlparse

    from playwright.sync_api import sync_playwright

    own = urlparse(server).netloc
    hosts, console = set(), []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.on("request", lambda r: hosts.add(urlparse(r.url).netloc) if not r.url.startswith("data:") else None)
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.goto(server, timeout=60_000)
        page.locator("h1", has_text="Playground").wait_for(timeout=90_000)
        for title in ("Threshold debugger", "Prototypes & overthinking", "Binarized weights", "Compare", "Learn"):
            page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
            page.locator("h1", has_text=title.split(" &")[0]).first.wait_for(timeout=120_000)
            page.wait_for_timeout(1500)
            assert page.locator('[data-testid="stException"]').count() == 0, title
        page.screenshot(path=str(tmp_path / "learn.png"))
        browser.close()
    assert hosts == {own}, hosts
    assert not console, console


@pytest.mark.slow
def test_clicking_one_point_on_the_prototype_map_lists_that_sample(server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(f"{server}/prototypes?limit=200", timeout=60_000)
        plot = page.locator('[data-testid="stPlotlyChart"]').first
        plot.wait_for(timeout=120_000)
        page.wait_for_timeout(2000)
        box = plot.locator("g.scatterlayer .point").nth(3).bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)       # one click, no lasso
        shown = "() => [...document.querySelectorAll('[data-testid=\"stSelectbox\"]')].map(e => e.innerText + ' ' + " \
                "[...e.querySelectorAll('input')].map(i => i.value).join(' '))"
        for _ in range(60):                                              # the rerun with the selection
            if any("lasso / click selection (1)" in t for t in page.evaluate(shown)):
                break
            page.wait_for_timeout(1000)
        assert any("lasso / click selection (1)" in t for t in page.evaluate(shown)), page.evaluate(shown)
        page.screenshot(path=str(tmp_path / "clicked.png"))
        browser.close()


@pytest.mark.slow
def test_a_page_opened_by_its_own_link_logs_only_streamlits_two_probes(server, tmp_path):
    """Opened by its own link (/thresholds?…), a page works, requests nothing off the server, draws its icons
    from Streamlit's bundled Material Symbols font (no emoji font needed), and the console holds nothing but the
    two 404s of Streamlit's frontend probing /<page>/_stcore/health and host-config before it finds the server at
    the root (streamlit/streamlit#7074) — what the README says."""
    from urllib.parse import urlparse

    from playwright.sync_api import sync_playwright

    own = urlparse(server).netloc
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for path, title in (("thresholds", "Threshold debugger"), ("learn", "Learn")):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            hosts, console, missing = set(), [], []
            page.on("request", lambda r, h=hosts: h.add(urlparse(r.url).netloc) if not r.url.startswith("data:")
                    else None)
            page.on("console", lambda m, c=console: c.append(m.text) if m.type in ("error", "warning") else None)
            page.on("response", lambda r, g=missing: g.append(urlparse(r.url).path) if r.status >= 400 else None)
            page.goto(f"{server}/{path}?policy=maxprob&threshold=0.7", timeout=60_000)
            page.locator("h1", has_text=title).first.wait_for(timeout=120_000)
            page.wait_for_timeout(2000)
            assert page.locator('[data-testid="stException"]').count() == 0, path
            assert hosts == {own}, hosts
            assert set(missing) <= {f"/{path}/_stcore/health", f"/{path}/_stcore/host-config"}, missing
            assert len(console) == len(missing) and all("404" in c for c in console), console
            nav = page.locator('[data-testid="stSidebarNav"] a', has_text="Threshold debugger").first
            assert nav.locator('[data-testid="stIconMaterial"]').count() == 1         # a Material icon, no emoji
            assert page.evaluate("document.fonts.check('16px \"Material Symbols Rounded\"')")
            page.screenshot(path=str(tmp_path / f"{path}.png"))
            page.close()
        browser.close()


@pytest.mark.slow
def test_the_playground_result_is_on_the_first_screen(server, tmp_path):
    """At 1400×900 a sentence's result (exit block … FLOPs) is on the first screen, whole: no metric cut."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{server}/?policy=maxprob&threshold=0.5&text=not+bad+at+all", timeout=60_000)
        metrics = page.locator('[data-testid="stMetric"]')
        metrics.filter(has_text="FLOPs spent").first.wait_for(timeout=90_000)
        page.wait_for_timeout(1500)
        for label in ("exit block", "prediction", "confidence", "layer speed-up", "FLOPs spent"):
            m = metrics.filter(has_text=label).first
            box = m.bounding_box()
            assert box["y"] + box["height"] <= 900, (label, box)
            cut = m.locator('[data-testid="stMetricValue"]').evaluate(
                "e => [...e.querySelectorAll('*')].concat([e]).some(x => x.scrollWidth > x.clientWidth + 1)")
            assert not cut, label
        page.screenshot(path=str(tmp_path / "first-screen.png"))
        page.screenshot(path="/tmp/wt20-first-screen.png")
        browser.close()
