from streamlit.testing.v1 import AppTest


def test_landing_page_states_limits_and_the_eu_ban():
    at = AppTest.from_file("../streamlit_app.py").run(timeout=30)
    assert not at.exception
    text = " ".join(m.value for m in at.markdown) + " ".join(w.value for w in at.warning)
    assert "does **not** measure learning" in text
    assert "Art. 5(1)(f)" in text
