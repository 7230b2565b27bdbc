# Quick start: `make demo` (set-up + the main job on the embedded data set), `make test` (set-up + lint + all tests).
PY := .venv/bin/python
STAMP := .venv/.setup-done

.PHONY: setup demo lint test clean-setup

setup: $(STAMP)

$(STAMP): scripts/setup_env.sh setup.py requirements/torch.txt requirements/runtime.txt requirements/tests.txt \
		requirements/gltf_validator/package-lock.json
	scripts/setup_env.sh
	touch $(STAMP)

demo: setup
	$(PY) tools/demo.py

lint: setup
	.venv/bin/ruff check .

test: setup lint
	$(PY) -m pytest -q

clean-setup:
	rm -rf .venv
