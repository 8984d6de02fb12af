"""About the model: the model card, per-class figures and the confusion matrix, when present.

The files are produced by training and evaluation (``models/``); a deployment without them
says so instead of failing.
"""

import json

import streamlit as st

from ui.common import ROOT, config, sidebar

sidebar()
st.title("About the model")
cfg = config()
MODELS = ROOT / "models"
card = MODELS / "model_card.md"
metrics_files = sorted(MODELS.glob("metrics*.json"))
figures = sorted(MODELS.glob("*.png"))

st.caption(f"Model in use: `{cfg.model_path}`" + ("" if cfg.model_path.exists() else " (missing: the live pages cannot analyze)"))
if card.exists():
    st.markdown(card.read_text(encoding="utf-8"))
else:
    st.info("The model card (models/model_card.md) is not available yet: the model is still being trained or evaluated.")

for path in metrics_files:
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        st.warning(f"{path.name} cannot be read: {error}")
        continue
    st.markdown(f"##### {path.stem.replace('_', ' ')}")
    per_class = metrics.get("per_class") if isinstance(metrics, dict) else None
    if isinstance(per_class, dict):
        st.dataframe([{"class": k, **v} for k, v in per_class.items() if isinstance(v, dict)], hide_index=True)
    scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))} if isinstance(metrics, dict) else {}
    if scalars:
        st.json(scalars)

for path in figures:
    st.image(str(path), caption=path.name)
if not metrics_files and not figures:
    st.info("No evaluation figures yet (models/metrics_*.json, models/confusion_matrix.png).")
