"""ExitLens — the entry point: page setup, navigation, the shared sidebar; then the chosen page runs.

    streamlit run app/streamlit_app.py
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:            # `streamlit run app/streamlit_app.py` puts app/ first on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="ExitLens", page_icon="🔎", layout="wide")

from app import sidebar  # noqa: E402

pages = {
    "Explore": [
        st.Page("views/playground.py", title="Playground", icon="✏️", url_path="playground", default=True),
        st.Page("views/thresholds.py", title="Threshold debugger", icon="🎚️", url_path="thresholds"),
        st.Page("views/prototypes.py", title="Prototypes & overthinking", icon="🌌", url_path="prototypes"),
    ],
    "Models": [
        st.Page("views/weights.py", title="Binarized weights", icon="🧮", url_path="weights"),
        st.Page("views/compare.py", title="Compare", icon="⚖️", url_path="compare"),
    ],
    "Learn": [
        st.Page("views/learn.py", title="Learn", icon="🎓", url_path="learn"),
    ],
}
page = st.navigation(pages)
st.sidebar.title("🔎 ExitLens")
sidebar.render()
page.run()
