"""Analyze media: upload an image or a short video, get the annotated result and a table.

The same code as ``python -m fer analyze`` (:mod:`fer.vision.media`), run on the upload in memory:
nothing uploaded is written to disk, and everything is dropped when the page is left. Who may
use it is ``CLASSMOOD_ANALYZE_ACCESS``; every upload is typed by its bytes and bounded before it
is decoded (:mod:`fer.vision.upload`), and its analysis takes turns in the students' fair queue,
one upload at a time.
"""

import cv2
import streamlit as st

from fer.errors import FerError
from fer.vision.media import ImageAnalysis, analyze_upload
from fer.vision.records import face_row
from fer.vision.upload import ALLOWED
from ui.common import analysis_gate, config, new_analyzer, plain, sidebar, upload_gate

sidebar()
st.title("Analyze media")
cfg = config()
if cfg.analyze_access == "off":
    st.info("Analyzing photos and videos is switched off on this server.")
    st.stop()
if cfg.analyze_access == "teacher":
    from ui.teacher import teacher_gate

    st.caption("On this server, analyzing photos and videos is for teachers with a running class.")
    room = teacher_gate()
    if not room.is_open:
        st.warning("This class has ended. Analyzing photos and videos needs the teacher key of a class that is running.")
        st.stop()

limits = cfg.upload_limits()
st.write(
    f"Upload a photo or a short video ({ALLOWED}; at most {cfg.max_upload_mb:g} MB and "
    f"{cfg.max_image_megapixels:g} megapixels; videos are analyzed for their first {cfg.max_video_s:g} s at "
    f"{cfg.media_fps:g} frames per second). The file stays in memory and is not stored."
)

upload = st.file_uploader("Image or video", type=None, accept_multiple_files=False,
                          max_upload_size=max(1, int(cfg.max_upload_mb)))
if upload is not None:
    name = upload.name
    try:
        analyzer, uploads = new_analyzer(media=True), upload_gate()
        waiting = st.empty()
        if uploads.stats().busy:
            waiting.info("Another upload is being analyzed; yours is next in line.")
        with st.spinner("Analyzing…"), uploads.turn():
            waiting.empty()
            bar = st.empty()
            # Each update is a Streamlit call, where a visitor who left or uploaded again stops the
            # analysis (Streamlit raises there), which gives its turns back at once.
            analysis = analyze_upload(upload.getvalue(), name, analyzer, limits, fps=cfg.media_fps,
                                      turn=analysis_gate().turn, progress=lambda done: bar.progress(done))
            bar.empty()
        if isinstance(analysis, ImageAnalysis):
            st.image(cv2.cvtColor(analysis.annotated, cv2.COLOR_BGR2RGB),
                     caption=plain(f"{name}: {len(analysis.result.faces)} face(s)"))
            if analysis.result.faces:
                st.dataframe([face_row(f) for f in analysis.result.faces], hide_index=True)
            else:
                st.info("No face was found. Faces should be at least about 40 pixels wide and seen from the front.")
        else:
            video = analysis
            if video.problem:
                st.warning(plain(video.problem))
            if video.stopped == "time":
                st.info(f"The analysis stopped after {cfg.max_analysis_s:g} s of server time (the limit here); "
                        f"the results cover the first {video.until_s:.1f} s of the video.")
            elif video.stopped == "frames":
                st.info(f"Only the first {cfg.max_video_frames} frames were decoded (the limit here), "
                        f"up to {video.until_s:.1f} s of the video.")
            elif video.truncated:
                st.info(f"Only the first {cfg.max_video_s:g} s were analyzed.")
            st.image(video.timeline_png, caption="Emotion mix over time")
            st.markdown(f"{video.frames_decoded} frames decoded, {len(video.times)} analyzed, {len(video.rows)} face rows.")
            if video.rows:
                st.dataframe(video.rows, hide_index=True)
            else:
                st.info("No face was found in the analyzed frames.")
    except FerError as error:
        st.error(plain(f"Cannot analyze this file: {error}"))
