"""Analyze media: upload an image or a short video, get the annotated result and a table.

The same code as ``python -m fer analyze`` (:mod:`fer.vision.media`), run on the upload in memory:
nothing uploaded is written to disk, and everything is dropped when the page is left.
"""

import cv2
import streamlit as st

from fer.errors import FerError
from fer.vision.media import analyze_image_array, analyze_video_bytes, decode_image
from ui.common import config, new_analyzer, sidebar

sidebar()
st.title("Analyze media")
cfg = config()
st.write(
    f"Upload a photo or a short video (at most {cfg.max_upload_mb:g} MB; videos are analyzed for their first "
    f"{cfg.max_video_s:g} s at {cfg.media_fps:g} frames per second). The file stays in memory and is not stored."
)

upload = st.file_uploader("Image or video", type=None, accept_multiple_files=False)
if upload is not None:
    data = upload.getvalue()
    name = upload.name
    try:
        if len(data) > cfg.max_upload_mb * 1024 * 1024:
            raise FerError(f"{name}: {len(data) / 1e6:.1f} MB is more than the {cfg.max_upload_mb:g} MB allowed")
        image = decode_image(data, name)
        with st.spinner("Analyzing…"):
            analyzer = new_analyzer()
            if image is not None:
                analysis = analyze_image_array(image, analyzer, name)
                st.image(cv2.cvtColor(analysis.annotated, cv2.COLOR_BGR2RGB), caption=f"{name}: {len(analysis.result.faces)} face(s)")
                if analysis.result.faces:
                    st.dataframe(
                        [{"face": f.track_id, "box (x1, y1, x2, y2)": str(f.box), "expression": f.label,
                          "confidence": f"{max(f.probs):.0%}", **{k: round(float(v), 3) for k, v in f.to_dict()["probs"].items()}}
                         for f in analysis.result.faces],
                        hide_index=True,
                    )
                else:
                    st.info("No face was found. Faces should be at least about 40 pixels wide and seen from the front.")
            else:
                video = analyze_video_bytes(data, analyzer, name, fps=cfg.media_fps, max_seconds=cfg.max_video_s)
                if video.problem:
                    st.warning(video.problem)
                if video.truncated:
                    st.info(f"Only the first {cfg.max_video_s:g} s were analyzed.")
                st.image(video.timeline_png, caption="Emotion mix over time")
                st.markdown(f"{video.frames_decoded} frames decoded, {len(video.times)} analyzed, {len(video.rows)} face rows.")
                if video.rows:
                    st.dataframe(video.rows, hide_index=True)
                else:
                    st.info("No face was found in the analyzed frames.")
    except FerError as error:
        st.error(f"Cannot analyze this file: {error}")
