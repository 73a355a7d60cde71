# Set-up and everyday commands. `make run` and `make test` work on a fresh machine: they create
# the virtualenv, install the project, and fetch what the tests need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv system-deps corpus proto run demo test test-fast test-images images bench lint clean

help:
	@echo "make run        start both services (SQLite cache in ./data, media in ./media)"
	@echo "make test       install everything the tests need, then run every test"
	@echo "make images     build both service images (docker, or podman on a locally made base)"
	@echo "make test-images  build both images, run them and talk to them over their ports"
	@echo "make demo       start both services, master a generated track, measure it"
	@echo "make bench      benchmarks (SPEC section 9) with the target beside each figure"
	@echo "make proto      regenerate the committed gRPC stubs under shared/proto"
	@echo "make lint       ruff and mypy"

$(STAMP): pyproject.toml shared/_kernels.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,postgres]"
	touch $(STAMP)

venv: $(STAMP)

# ffmpeg (the independent loudness judge) and PostgreSQL (shared-cache tests), from Debian.
system-deps:
	scripts/install-system-deps

corpus:
	scripts/fetch-corpus

# The calibration music (three Debian game-data packages, cached like the corpus) the tonal
# reference was measured on; the calibration tests use it with the corpus.
.PHONY: calibration
calibration:
	scripts/fetch-calibration

proto: $(STAMP)
	$(PY) scripts/gen_proto.py

run: $(STAMP)
	scripts/run-services

demo: $(STAMP) system-deps
	$(PY) -m mastering_service.demo

test: $(STAMP) system-deps corpus calibration
	scripts/with-postgres $(PY) -m pytest $(PYTEST_ARGS)

# Everything except the real-music corpus and PostgreSQL: a quick loop while developing.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not corpus" $(PYTEST_ARGS)

# Both service images, from the working tree: docker when a daemon answers, otherwise podman on
# a base image made here with debootstrap (scripts/build-images; the base and layers are cached).
images:
	scripts/build-images

# The image tier (tests/images, marker `images`): builds both images and runs them alone, on
# PostgreSQL, under podman-compose and under `podman kube play`. Outside `make test` (it needs
# root and podman); .ci/run runs it right after.
test-images: $(STAMP) system-deps images
	scripts/with-postgres $(PY) -m pytest -m images tests/images $(PYTEST_ARGS)

# The benchmarks' peers (librosa) come with the bench extra, never with the services.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,postgres,bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) system-deps corpus
	$(PY) -m tests.benchmarks

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
