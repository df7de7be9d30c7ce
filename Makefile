# Every target bootstraps first (idempotent: seconds when nothing changed).
PY := .venv/bin/python
export QT_QPA_PLATFORM ?= offscreen

.PHONY: bootstrap test test-fast demo bench screenshot lint typecheck

bootstrap:
	@bash installer/bootstrap.sh

test: bootstrap
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: bootstrap
	$(PY) -m pytest -q -p no:cacheprovider -m "not e2e and not slow"

lint: bootstrap
	.venv/bin/lint-imports

typecheck: bootstrap
	.venv/bin/mypy

demo: bootstrap
	@unset QT_QPA_PLATFORM; bash installer/demo.sh

bench: bootstrap
	@for f in bench/*.py; do $(PY) $$f || exit 1; done

screenshot: bootstrap
	$(PY) installer/screenshot.py out/screenshots
