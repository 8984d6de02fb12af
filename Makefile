# Two entry points for a newcomer: `make run` (the app) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test test-fast install install-train install-dev clean

$(VENV)/.app: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.app requirements-dev.txt requirements-train.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

$(VENV)/.train: $(VENV)/.app requirements-train.txt
	$(PY) -m pip install -q -r requirements-train.txt
	touch $@

install: $(VENV)/.app
install-train: $(VENV)/.train
install-dev: $(VENV)/.dev

run: $(VENV)/.app
	$(PY) -m fer preflight && $(PY) -m streamlit run streamlit_app.py --server.headless true --server.port $(PORT)

test: $(VENV)/.dev
	$(PY) -m pytest -q

# The inner loop: everything but the slow tiers (real browsers, Docker, model training).
test-fast: $(VENV)/.dev
	$(PY) -m pytest -q -n 2 -m "not browser and not docker and not training"

clean:
	rm -rf $(VENV) .pytest_cache
