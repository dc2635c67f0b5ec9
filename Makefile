# The two commands: `make demo` restores the bundled retouched examples with the bundled weights, `make test` runs the tests.
# Each creates .venv on a fresh machine (torch first, then the project).
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_OUT ?= out/demo

.PHONY: env demo test bench clean

env:
	bash scripts/setup_env.sh

demo: env
	$(VENV)/bin/mofrr restore examples/retouched/*.png -o $(DEMO_OUT) --overwrite
	@echo "restored photos and JSON reports (routing, degrees, experts, timings) are in $(DEMO_OUT)/"

test: env
	VENV=$(VENV) bash scripts/setup_browser.sh
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(PYTEST_ARGS)

bench: env
	$(VENV)/bin/mofrr bench --methods mofrr,frrffusion --configs lite --sizes 256 --steps 1,4,10,25 --batch 1 --quality examples -o out/bench
	$(PY) benchmarks/bench_ops.py

clean:
	rm -rf $(VENV) out .pytest_cache
