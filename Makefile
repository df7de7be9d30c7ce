# Every target bootstraps first (idempotent: seconds when nothing changed).
PY := .venv/bin/python
export QT_QPA_PLATFORM ?= offscreen

.PHONY: bootstrap test test-fast demo bench screenshot lint typecheck

bootstrap:
	@bash installer/bootstrap.sh

# Pure-logic tests run without the Qt plugin (their conftest fails the run if anything
# imported PySide6); then the GUI and end-to-end tests.
PYTEST := $(PY) -m pytest -q -p no:cacheprovider
test: export OFFHOLD_TEST_DEPS = 1
test: bootstrap
	$(PYTEST) -p no:pytest-qt -W ignore::pytest.PytestConfigWarning tests/unit
	$(PYTEST) tests/gui tests/e2e

test-fast: bootstrap
	$(PYTEST) -p no:pytest-qt -W ignore::pytest.PytestConfigWarning -m "not slow" tests/unit

lint: bootstrap
	.venv/bin/lint-imports

typecheck: bootstrap
	.venv/bin/mypy

demo: bootstrap
	@unset QT_QPA_PLATFORM; bash installer/demo.sh

bench: bootstrap
	@for f in bench/[a-z]*.py; do $(PY) $$f || exit 1; done

screenshot: bootstrap
	$(PY) installer/screenshot.py out/screenshots
