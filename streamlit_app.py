"""ClassMood: the entry point and landing page.

Run with ``streamlit run streamlit_app.py``. Each page lives in ``pages/`` and only
lays out what the ``fer`` library computes; the order and the short URLs
(``/join?room=...``) come from the file names: Streamlit's ``pages/`` folder gives each page
its own URL, so a student's join link opens the join page directly.
"""

from pathlib import Path

import streamlit as st

from ui.common import PAGES, ai_act_note, sidebar

ROOT = Path(__file__).resolve().parent
MODEL_CARD = ROOT / "models" / "model_card.md"


def landing() -> None:
    """What the tool does, what it does not, and where to go next."""
    st.title("ClassMood")
    st.subheader("How does the class feel right now?")
    st.write(
        "During an online lecture, students join a room with their webcam. A server-side pipeline finds "
        "each face and estimates its facial expression (angry, disgust, fear, happy, sad, surprise, "
        "neutral) with our own small neural network; the teacher sees the class mood as live charts."
    )

    start, join = st.columns(2)
    with start:
        st.page_link(PAGES["start"], label="**Start a class** (teacher)", icon="🧑‍🏫")
    with join:
        st.page_link(PAGES["join"], label="**Join a class** (student)", icon="🎓")

    left, right = st.columns(2)
    with left:
        st.markdown("#### What it does")
        st.markdown(
            "- Shows the teacher the **mix of expressions** over the students present, live and over time.\n"
            "- Keeps **only numbers**: no video frame or face image is ever stored.\n"
            "- Starts a student's camera **only after consent**, and the student can leave at any time."
        )
    with right:
        st.markdown("#### What it does not do")
        st.markdown(
            "- It does **not** measure learning, attention, understanding or engagement: a facial "
            "expression is not any of these, and people show feelings differently.\n"
            "- It is **not** a grading or surveillance tool; do not use it to judge individual students.\n"
            "- It is wrong often: about 3 faces in 10 get the wrong label on the FER-2013 benchmark."
        )

    ai_act_note()

    if MODEL_CARD.exists():
        with st.expander("About the emotion model (model card)"):
            st.markdown(MODEL_CARD.read_text(encoding="utf-8"))


st.set_page_config(page_title="ClassMood", page_icon="🙂", layout="wide")
sidebar()
landing()
