# The two commands: `make demo` runs the main job on the bundled examples, `make test` runs the tests.
# Each creates .venv on a fresh machine (torch first, then the project).
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_OUT ?= out/demo

.PHONY: env demo test bench clean

env:
	bash scripts/setup_env.sh

demo: env
	$(VENV)/bin/mofrr retouch examples/*.jpg -o $(DEMO_OUT) --ops smoothing=60,whitening=50,face_slimming=70,eye_enlargement=60 --seed 0
	@echo "retouched photos and JSON records are in $(DEMO_OUT)/"

test: env
	VENV=$(VENV) bash scripts/setup_browser.sh
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(PYTEST_ARGS)

bench: env
	$(PY) benchmarks/bench_ops.py

clean:
	rm -rf $(VENV) out .pytest_cache
