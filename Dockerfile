# ClassMood web app: `docker build -t classmood .` then `docker run -p 8501:8501 classmood`.
#
# BASE is a build argument so that machines without access to an image registry can pass a
# local Python 3.11 base instead (see scripts/docker_local_base.py); the default is the
# official slim image. The app's packages live in a virtual environment, which works on both
# (Debian's own Python refuses a system-wide pip install).
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PORT=8501 \
    CLASSMOOD_DATA_DIR=/data \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    TF_CPP_MIN_LOG_LEVEL=2

# Dependencies first, in their own layer: editing the app does not reinstall them. No
# TensorFlow: the model is served by LiteRT from models/emotion_cnn.tflite (fer/training/export.py).
COPY requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \
    && pip install --no-compile -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Not root: a hole in a dependency then gets an account that can write only /data.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin classmood \
    && mkdir -p /data && chown classmood:classmood /data
WORKDIR /app
COPY --chown=root:root . /app
USER classmood
VOLUME ["/data"]
EXPOSE 8501

# Python, not curl: the slim image has no curl. Streamlit answers "ok" once it serves.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_stcore/health' % os.environ.get('PORT', '8501'), timeout=4)"

# fer.preflight first: a corrupt model or an unwritable /data stops the container with a clear
# message instead of serving a half-broken app. exec: Streamlit replaces the shell as PID 1,
# so that `docker stop`'s SIGTERM reaches it.
CMD ["sh", "-c", "python -m fer preflight && exec streamlit run streamlit_app.py --server.port \"${PORT:-8501}\" --server.address 0.0.0.0 --server.headless true"]
