"""ExitLens — the entry point: page setup, navigation, the shared sidebar; then the chosen page runs.

    streamlit run app/streamlit_app.py

Icons are Streamlit's ``:material/…:`` icons: the Material Symbols font ships inside Streamlit's own frontend
and is served by this server, so they render on a machine without any emoji font and fetch nothing from
elsewhere (tests/test_browser.py checks every request's host). No emoji in the interface: a plain Linux without
an emoji font draws them as boxes (tests/test_app_icons.py).
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:            # `streamlit run app/streamlit_app.py` puts app/ first on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="ExitLens", page_icon=str(ROOT / "app" / "logo.svg"), layout="wide")

from app import byo, sidebar  # noqa: E402
from core.util import single_threaded  # noqa: E402

single_threaded()
pages = {
    "Explore": [
        st.Page("views/playground.py", title="Playground", icon=":material/edit:", default=True),
        st.Page("views/thresholds.py", title="Threshold debugger", icon=":material/tune:", url_path="thresholds"),
        st.Page("views/prototypes.py", title="Prototypes & overthinking", icon=":material/scatter_plot:",
                url_path="prototypes"),
        st.Page("views/slices.py", title="Slices", icon=":material/pie_chart:", url_path="slices"),
    ],
    "Models": [
        st.Page("views/weights.py", title="Binarized weights", icon=":material/grid_on:", url_path="weights"),
        st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    ],
    "Learn": [
        st.Page("views/learn.py", title="Learn", icon=":material/school:", url_path="learn"),
    ],
}
page = st.navigation(pages)
st.logo(str(ROOT / "app" / "logo.svg"), size="large")
sel = sidebar.render(page.title)
if sel.bundle.model is None and page.title in byo.NEEDS_A_MODEL:
    st.title(page.title)
    st.info(f"A recorded trace alone cannot {byo.NEEDS_A_MODEL[page.title]}: this page needs the model itself. "
            "The Threshold debugger, Prototypes & overthinking, Compare and the Learn page's dataset topics work on "
            "the trace — or open a model in the sidebar.", icon=":material/folder_open:")
    st.stop()
page.run()
