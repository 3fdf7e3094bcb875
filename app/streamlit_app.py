"""ExitLens — the entry point: page setup, navigation, the shared sidebar; then the chosen page runs.

    streamlit run app/streamlit_app.py
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:            # `streamlit run app/streamlit_app.py` puts app/ first on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="ExitLens", page_icon=":material/logout:", layout="wide")

from app import sidebar  # noqa: E402

pages = {
    "Explore": [
        st.Page("views/playground.py", title="Playground", icon=":material/edit_note:", default=True),
        st.Page("views/thresholds.py", title="Threshold debugger", icon=":material/tune:", url_path="thresholds"),
        st.Page("views/prototypes.py", title="Prototypes & overthinking", icon=":material/scatter_plot:", url_path="prototypes"),
    ],
    "Models": [
        st.Page("views/weights.py", title="Binarized weights", icon=":material/memory:", url_path="weights"),
        st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    ],
    "Learn": [
        st.Page("views/learn.py", title="Learn", icon=":material/school:", url_path="learn"),
    ],
}
page = st.navigation(pages)
st.logo(str(ROOT / "app" / "logo.svg"), size="large")
sidebar.render(page.title)
page.run()
