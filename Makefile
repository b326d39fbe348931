# Two entry points that work from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or run make PYTHON=/path/to/python3.11)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# CPU build of torch first, so nothing below pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p out
	# a Copernicus Sentinel-2 10 m RGB crop (16-bit reflectance) sharpened to 5 m by the model trained on real pairs
	$(VENV)/bin/satsr upscale src/satsr/sample/sentinel2_t33uuu_rgb_crop.tif out/demo_x2.tif --scale 2 \
		--model edsr-real --overwrite --hallucination out/demo_x2_hallucination.tif
	$(VENV)/bin/satsr info out/demo_x2.tif
	@echo "demo: out/demo_x2.tif is the Sentinel-2 sample (10 m) upscaled to 5 m by edsr-real (trained on real"
	@echo "Sentinel-2 / aerial pairs); out/demo_x2_hallucination.tif says where its detail is not backed by the input."

test: $(STAMP)
	$(PY) -m pytest -q -n 2

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache
