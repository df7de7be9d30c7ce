"""The bridge between the model runtime (local_models) and the vault (app): register the
bundled model, import GGUF files, pick the model for a task kind, run prompts and record
every run (prompt, output, model hash, prompt version, parameters, duration) through
app.services.models. app and local_models never import each other; this layer does both.

The self-test: the first time a model is used on a runtime (its llama.cpp build and the
processor), a fixed prompt is generated and judged (local_models.selftest). The verdict is
stored in the vault; a slow or broken model is never called for drafts again until the
owner re-tests it, and drafts say on their face that they came from the template.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from app.domain.models import ModelHealth, ModelRecord, ModelRun
from app.errors import KnownError
from app.identity import Session, require
from app.services import models as model_service
from app.services import practice
from local_models import cpu, registry, selftest
from local_models.errors import GenerationTimeout, ModelError
from local_models.prompts import PromptTemplate, load_prompt
from local_models.runtime import (
    Generation,
    GenerationResult,
    ModelRuntime,
    ModelSpec,
    default_runtime,
)
from local_models.structured import StructuredResult, generate_json

log = logging.getLogger(__name__)

MAX_CTX = 4096  # enough for a form and a summary; bigger contexts cost RAM for nothing


class ModelUnavailable(KnownError):
    """A model could not be used (missing file, changed hash, failed load, timeout, or a
    slow or broken self-test verdict)."""


def template_notice(exc: BaseException) -> str:
    """What a draft written without the model says on its face, for the reviewer."""
    return f"Drafted from the template: the model is unavailable ({exc})."


_BUNDLED: ModelRecord | None = None
_BUNDLED_LOCK = threading.Lock()


def _bundled_record(runtime: ModelRuntime | None = None) -> ModelRecord:
    """The bundled file's registry record, inspected once per process (by the worker)."""
    global _BUNDLED
    with _BUNDLED_LOCK:
        if _BUNDLED is None:
            try:
                info = registry.bundled_info((runtime or default_runtime()).inspect)
            except ModelError as exc:
                raise ModelUnavailable(str(exc)) from exc
            _BUNDLED = _to_record(info, str(info.path))
        return _BUNDLED


def _to_record(info: registry.ModelFileInfo, filename: str) -> ModelRecord:
    return ModelRecord(id=0, name=info.name, filename=filename, sha256=info.sha256,
                       size=info.size, context_length=info.context_length,
                       chat_template=info.chat_template, license=info.license,
                       architecture=info.architecture, bundled=info.bundled, note=info.note)


def ensure_bundled(session: Session) -> ModelRecord:
    """Register the bundled model once. Later calls only hash the file (cached per
    process) and find its row, without asking llama.cpp to read the metadata again."""
    try:
        path = registry.bundled_model_path()
        sha = registry.sha256_file(path)
    except (ModelError, OSError) as exc:
        raise ModelUnavailable(str(exc)) from exc
    known = model_service.find_bundled(session, sha)
    return known if known is not None else model_service.ensure_bundled(session,
                                                                        _bundled_record())


def list_models(session: Session) -> list[ModelRecord]:
    ensure_bundled(session)
    return model_service.list_models(session)


def models_with_health(session: Session, runtime: ModelRuntime | None = None
                       ) -> list[tuple[ModelRecord, ModelHealth | None]]:
    """Every registered model with its self-test verdict on this runtime (None: not
    tested here yet)."""
    rid = runtime_id(runtime)
    return [(rec, model_service.model_health(session, rec.sha256, rid))
            for rec in list_models(session)]


def import_model(session: Session, path: Path, name: str | None = None,
                 runtime: ModelRuntime | None = None) -> ModelRecord:
    """Inspect a GGUF (metadata via llama.cpp in the worker, SHA-256) and copy it into the
    vault."""
    require(session, "model.manage")  # before llama.cpp parses a file the user chose
    try:
        info = registry.inspect_file(Path(path), (runtime or default_runtime()).inspect, name)
    except ModelError as exc:
        raise ModelUnavailable(str(exc)) from exc
    return model_service.import_model(session, Path(path), _to_record(info, ""))


def spec_for(session: Session, rec: ModelRecord) -> ModelSpec:
    n_ctx = min(MAX_CTX, rec.context_length or MAX_CTX)
    return ModelSpec(path=model_service.model_path(session, rec), sha256=rec.sha256,
                     name=rec.name, n_ctx=n_ctx,
                     n_threads=max(0, int(practice.get_setting(session, "model_threads"))))


def model_for(session: Session, task_kind: str) -> tuple[ModelRecord, ModelSpec]:
    ensure_bundled(session)
    rec = model_service.active_model(session, task_kind)
    return rec, spec_for(session, rec)


def record(session: Session, rec: ModelRecord, prompt: PromptTemplate, messages: Any,
           result: GenerationResult, *, task_kind: str, subject: str = "",
           patient_id: int | None = None, valid: bool | None = None,
           grounded: bool | None = None) -> int:
    return model_service.record_run(session, ModelRun(
        model_sha256=result.model_sha256, prompt_name=prompt.name,
        prompt_version=prompt.version, prompt=json.dumps(messages, ensure_ascii=False),
        output=result.text, finish_reason=result.finish_reason,
        duration_ms=int(result.duration_s * 1000), params=result.params,
        prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
        ttft_ms=None if result.ttft_s is None else int(result.ttft_s * 1000), valid=valid,
        grounded=grounded, task_kind=task_kind, subject=subject, patient_id=patient_id,
        model_id=rec.id or None))


@dataclass
class StructuredRun:
    result: StructuredResult
    run_ids: list[int]
    model: ModelRecord

    @property
    def last_run_id(self) -> int:
        return self.run_ids[-1]


def run_structured(session: Session, task_kind: str, prompt_name: str, *,
                   values: dict[str, str] | None = None,
                   untrusted: dict[str, str] | None = None, subject: str = "",
                   patient_id: int | None = None,
                   runtime: ModelRuntime | None = None) -> StructuredRun:
    """Run a schema prompt with the kind's active model; every attempt is recorded."""
    rec, spec = model_for(session, task_kind)
    ensure_usable(session, rec, runtime)
    prompt = load_prompt(prompt_name)
    try:
        out = generate_json(runtime or default_runtime(), spec, prompt, values, untrusted)
    except ModelError as exc:
        raise ModelUnavailable(f"model {rec.name}: {exc}") from exc
    run_ids = [record(session, rec, prompt, a.messages, a.result, task_kind=task_kind,
                      subject=subject, patient_id=patient_id, valid=not a.errors)
               for a in out.attempts]
    return StructuredRun(out, run_ids, rec)


class ModelTest:
    """'Test this model' on the settings page: streams tokens (callback or iteration),
    can be cancelled, and records the run when it ends."""

    def __init__(self, session: Session, rec: ModelRecord, generation: Generation,
                 prompt: PromptTemplate, messages: Any) -> None:
        self.session, self.model, self.generation = session, rec, generation
        self._prompt, self._messages = prompt, messages
        self.run_id: int | None = None

    def cancel(self) -> None:
        self.generation.cancel()

    def __iter__(self) -> Any:
        return iter(self.generation)

    def wait(self, timeout: float | None = None) -> GenerationResult:
        try:
            result = self.generation.result(timeout)
        except ModelError as exc:
            raise ModelUnavailable(f"model {self.model.name}: {exc}") from exc
        if self.run_id is None:
            self.run_id = record(self.session, self.model, self._prompt, self._messages,
                                 result, task_kind="model_test", subject=f"model:{self.model.id}")
        return result


def test_target(session: Session, name: str | None = None) -> ModelRecord:
    """The model "test" runs on: the named one, or the default."""
    ensure_bundled(session)
    return model_service.get_model(session, name) if name else \
        model_service.active_model(session, "model_test")


def start_model_test(session: Session, name: str | None = None,
                     on_token: Callable[[str], None] | None = None,
                     runtime: ModelRuntime | None = None) -> ModelTest:
    """Start the fixed, PHI-free test prompt on a model (default: the active default)."""
    rec = test_target(session, name)
    prompt = load_prompt("model_test")
    messages = prompt.render()
    generation = (runtime or default_runtime()).start(spec_for(session, rec), messages,
                                                      prompt.generation_params(), on_token)
    return ModelTest(session, rec, generation, prompt, messages)


def runtime_id(runtime: ModelRuntime | None = None, refresh: bool = False) -> str:
    """Which runtime a verdict holds for: the llama-cpp-python version, the CPU features its
    build uses and the processor's fingerprint, hashed. A worker that cannot even report
    them (it crashes as llama.cpp loads) gets an id of its own, so its failure is kept."""
    import hashlib

    try:
        info = (runtime or default_runtime()).info(refresh=refresh)
    except ModelError:
        return f"unloadable-{cpu.cpu_fingerprint()}"
    text = "\n".join([str(info.get("llama_cpp_version")), str(info.get("system_info")),
                      str(info.get("cpu_fingerprint"))])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def self_test(session: Session, rec: ModelRecord, runtime: ModelRuntime | None = None,
              refresh: bool = False) -> ModelHealth:
    """Generate the fixed self-test prompt with a timeout, judge it (healthy, slow or
    broken), record the run and store the verdict. A slow or broken verdict becomes one
    task for the owner (app.services.models.record_health)."""
    runtime = runtime or default_runtime()
    rid = runtime_id(runtime, refresh)
    floor = float(practice.get_setting(session, "model_min_tokens_per_s"))
    timeout = float(practice.get_setting(session, "model_selftest_timeout_s"))
    prompt = load_prompt("model_selftest")
    messages = prompt.render()
    result: GenerationResult | None = None
    error: BaseException | None = None
    try:
        handle = runtime.start(spec_for(session, rec), messages,
                               prompt.generation_params(timeout_s=timeout))
        # the worker stops at the deadline after a token; a hang in the prompt itself is
        # caught here, and the worker is replaced so the next call starts clean
        result = handle.result(timeout + min(30.0, 5.0 + timeout / 2))
    except ModelError as exc:
        error = exc
        if isinstance(exc, GenerationTimeout):
            runtime.restart()
    verdict = selftest.judge(result, error, floor)
    if result is not None:
        record(session, rec, prompt, messages, result, task_kind="model_selftest",
               subject=f"model:{rec.id}")
    log.info("model self-test: %s %s (%s)", rec.name, verdict.health.value, verdict.reason)
    return model_service.record_health(session, rec, rid, verdict.health.value,
                                       verdict.reason, verdict.tokens_per_s)


def ensure_usable(session: Session, rec: ModelRecord,
                  runtime: ModelRuntime | None = None) -> ModelHealth:
    """The model's verdict on this runtime, self-testing it on first use. Raises
    ModelUnavailable (with the reason) for a slow or broken model without calling it."""
    health = model_service.model_health(session, rec.sha256, runtime_id(runtime))
    if health is None:
        health = self_test(session, rec, runtime)
    if not health.usable:
        raise ModelUnavailable(f"model {rec.name} is {health.health}: {health.reason}")
    return health


@dataclass(frozen=True)
class ModelCheck:
    """`offhold model verify` for one model: its file hash and its self-test."""

    name: str
    ok: bool
    message: str
    health: str = ""


def verify_models(session: Session,
                  runtime: ModelRuntime | None = None) -> list[ModelCheck]:
    """Owner's check of every registered model: the pinned SHA-256, then a fresh self-test
    on this runtime (this is the re-test that can put a slow or broken model back)."""
    ensure_bundled(session)
    checks = []
    for outcome in model_service.verify_models(session):
        if not outcome.ok:
            checks.append(ModelCheck(outcome.name, False, outcome.message))
            continue
        health = self_test(session, model_service.get_model(session, outcome.name), runtime,
                           refresh=True)
        checks.append(ModelCheck(outcome.name, health.usable,
                                 f"file ok; {health.health}: {health.reason}", health.health))
    return checks
