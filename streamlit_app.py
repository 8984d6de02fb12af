"""ClassMood: the entry point. Registers the pages and shows the landing page.

Run with ``streamlit run streamlit_app.py``. Each page lives in ``pages/`` and only
lays out what the ``fer`` library computes; the order and the short URLs
(``/join?room=...``) are set here. Each file is named after its URL path, so the page Streamlit
finds by itself in ``pages/`` on a direct link (a student's join link) is the same page that
``st.navigation`` registers.
"""

from pathlib import Path

import streamlit as st

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

    st.warning(
        "**Legal limits.** The EU AI Act (Regulation 2024/1689, Art. 5(1)(f)) has prohibited AI systems "
        "that infer emotions of natural persons in education institutions in the EU since "
        "2 February 2025. Do not use ClassMood for teaching in the EU, and check the law where you teach.",
        icon="⚖️",
    )

    if MODEL_CARD.exists():
        with st.expander("About the emotion model (model card)"):
            st.markdown(MODEL_CARD.read_text(encoding="utf-8"))


st.set_page_config(page_title="ClassMood", page_icon="🙂", layout="wide")

PAGES = {
    "home": st.Page(landing, title="ClassMood", icon="🙂", default=True),
    "start": st.Page("pages/start.py", title="Start a class", icon="🧑‍🏫", url_path="start"),
    "join": st.Page("pages/join.py", title="Join a class", icon="🎓", url_path="join"),
    "dashboard": st.Page("pages/dashboard.py", title="Teacher dashboard", icon="📊", url_path="dashboard"),
    "report": st.Page("pages/report.py", title="Session report", icon="🧾", url_path="report"),
    "analyse": st.Page("pages/analyse.py", title="Analyse media", icon="🖼️", url_path="analyse"),
    "model": st.Page("pages/model.py", title="About the model", icon="🧠", url_path="model"),
}
st.navigation(list(PAGES.values())).run()
