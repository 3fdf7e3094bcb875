"""Learn: the ideas behind early exits, each with a figure driven by the live model."""
import streamlit as st

from app import lessons, sidebar, state, widgets
from app import params as P

sel = state.current()

TOPICS = {"entropy": "Entropy exits", "patience": "Patience", "prototypes": "Prototypes",
          "overthinking": "Overthinking", "binarization": "Binarization", "policies": "Every policy",
          "honest": "Honest thresholds", "slices": "Slices & guarantees"}
st.title("Learn")
st.caption("Short explanations with the model in the sidebar doing the work — move the sliders.")
sidebar.page_param("ln_topic", "topic", lambda raw: P.parse_choice(raw, list(TOPICS), "entropy", "topic"), "entropy")
topic = widgets.choice(st, "topic", list(TOPICS), "ln_topic", "entropy", kind="segmented", format_func=TOPICS.get,
                       label_visibility="collapsed")
sidebar.write_params({"topic": topic})

getattr(lessons, topic)(sel)

st.divider()
st.markdown(lessons.PAPERS)
