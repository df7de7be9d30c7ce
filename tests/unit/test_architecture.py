"""The layering and the Qt boundary hold (import-linter), and the core imports no Qt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ("app", "local_models", "automations")


def test_import_linter_contracts() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_source_never_imports_qt() -> None:
    offenders = []
    for package in (*CORE, "ui/cli.py", "ui/commands"):
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() \
                else [ROOT / package]:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                if any(n.split(".")[0] in ("PySide6", "shiboken6", "PyQt5", "PyQt6")
                       for n in names):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_importing_the_core_and_cli_loads_no_qt() -> None:
    code = ("import sys, pkgutil, importlib\n"
            "import app, local_models, automations, ui.cli\n"
            "for pkg in (app, local_models, automations):\n"
            "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
            "        importlib.import_module(m.name)\n"
            "ui.cli.build_parser()\n"
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_tests_do_not_import_qt() -> None:
    for path in (ROOT / "tests" / "unit").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "PySide6" not in text.replace('"PySide6"', "").replace("'PySide6'", "") or \
            path.name == "test_architecture.py", path


def test_only_the_model_worker_loads_llama_cpp() -> None:
    """llama.cpp runs only in the spawned worker process: a native crash there (a CPU
    kernel, a hostile GGUF) must never take down the app, the CLI or the test process."""
    offenders = []
    for package in (*CORE, "ui"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "local_models" / "worker.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                if any(n.split(".")[0] == "llama_cpp" for n in names):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
