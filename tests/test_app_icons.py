"""Icons that render without an emoji font (issue 20, item 13): no emoji anywhere in the interface's source —
Streamlit's bundled ``:material/…:`` icons instead — and the navigation uses them. (That no request leaves the
server is checked in the real browser: tests/test_browser.py.)"""
import re
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"

# Unicode's Emoji_Presentation characters (drawn from an emoji font by default) and the emoji variation selector
EMOJI = re.compile("[\U0001F000-\U0001FAFF\uFE0F\u231A\u231B\u23E9-\u23EC\u23F0\u23F3\u25FD\u25FE\u2614\u2615"
                   "\u2648-\u2653\u267F\u2693\u26A1\u26AA\u26AB\u26BD\u26BE\u26C4\u26C5\u26CE\u26D4\u26EA\u26F2"
                   "\u26F3\u26F5\u26FA\u26FD\u2705\u270A\u270B\u2728\u274C\u274E\u2753-\u2755\u2757\u2795-\u2797"
                   "\u27B0\u27BF\u2B1B\u2B1C\u2B50\u2B55]")


@pytest.mark.parametrize("path", sorted(APP.rglob("*.py")), ids=lambda p: str(p.relative_to(APP)))
def test_no_emoji_in_the_interface(path):
    hits = [f"{i}: {line.strip()[:80]}" for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if EMOJI.search(line)]
    assert not hits, hits


def test_the_pattern_finds_emoji():
    assert EMOJI.search("🔎 find") and EMOJI.search("⚠️") and EMOJI.search("⏩") and EMOJI.search("✨")
    assert not EMOJI.search("✓ ✗ ★ → ⚠ ◯")          # text symbols every plain font has


def test_every_material_icon_exists(make_app):
    """Every ``:material/name:`` in the app is one Streamlit's bundled font has (an unknown name raises)."""
    from streamlit.material_icon_names import ALL_MATERIAL_ICONS
    used = {m for p in APP.rglob("*.py") for m in re.findall(r":material/([a-z0-9_]+):", p.read_text(encoding="utf-8"))}
    assert len(used) > 10 and not used - set(ALL_MATERIAL_ICONS), used - set(ALL_MATERIAL_ICONS)
    at = make_app(page="thresholds", policy="maxprob", threshold="0.5")   # a page with warnings and info boxes
    icons = [e.proto.icon for e in list(at.warning) + list(at.info)]
    assert icons and all(i.startswith(":material/") for i in icons if i), icons
