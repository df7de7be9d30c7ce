"""The model registry kept in the vault: which GGUF files the practice may run (pinned by
SHA-256), which one is active per task kind, every model run (prompt, output, hash,
prompt version, parameters, duration) and each model's grounding pass rate.

Reading GGUF metadata and running models is local_models' job; the automations layer
calls it and records the results here, because app and local_models never import each
other. Model weights are not PHI: imported files are copied to the vault directory's
models/ folder in the clear, and pinned by hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import audit, clock, queue
from app.domain.models import ModelHealth, ModelRecord, ModelRun
from app.errors import NotFound, ValidationError
from app.identity import Session, require
from app.queue.kinds import KINDS

MODELS_DIR = "models"
DEFAULT_KIND = "default"  # the assignment used by any kind without its own
EXTRA_KINDS = (DEFAULT_KIND, "model_test")
MODEL_COLUMNS = ("id, name, filename, sha256, size, context_length, chat_template, license, "
                 "architecture, bundled, note, imported_at, grounding_checks, grounding_passes")


def models_dir(session: Session) -> Path:
    return session.vault.directory / MODELS_DIR


def _record(session: Session, row: Any) -> ModelRecord:
    rec = ModelRecord(id=row[0], name=row[1], filename=row[2], sha256=row[3], size=row[4],
                      context_length=row[5], chat_template=row[6], license=row[7],
                      architecture=row[8], bundled=bool(row[9]), note=row[10],
                      imported_at=clock.parse_iso(row[11]), grounding_checks=row[12],
                      grounding_passes=row[13])
    rec.used_for = [r[0] for r in session.vault.query(
        "SELECT task_kind FROM model_assignments WHERE model_id = ? ORDER BY task_kind",
        (rec.id,))]
    return rec


def list_models(session: Session) -> list[ModelRecord]:
    require(session, "model.generate")
    return [_record(session, r) for r in session.vault.query(
        f"SELECT {MODEL_COLUMNS} FROM models WHERE active = 1 ORDER BY bundled DESC, name")]


def get_model(session: Session, name_or_id: str | int) -> ModelRecord:
    require(session, "model.generate")
    key = str(name_or_id)
    row = session.vault.query_one(
        f"SELECT {MODEL_COLUMNS} FROM models WHERE active = 1 AND (name = ? OR "
        "CAST(id AS TEXT) = ?)", (key, key))
    if row is None:
        raise NotFound(f"no model named {key!r}; see 'offhold model list'")
    return _record(session, row)


def model_path(session: Session, rec: ModelRecord) -> Path:
    """The bundled model runs from its package; imported ones from the vault's models/."""
    return Path(rec.filename) if rec.bundled else models_dir(session) / rec.filename


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_bundled(session: Session, info: ModelRecord) -> ModelRecord:
    """Register the bundled default once (idempotent on its hash). It becomes the default
    model while no other is chosen."""
    require(session, "model.generate")
    vault = session.vault
    with vault.write() as conn:
        row = conn.execute("SELECT id FROM models WHERE sha256 = ? AND bundled = 1",
                           (info.sha256,)).fetchone()
        if row is None:
            if conn.execute("SELECT 1 FROM models WHERE name = ?", (info.name,)).fetchone():
                # an older bundled build under the same name: retire it
                conn.execute("UPDATE models SET active = 0, name = name || '@' || id "
                             "WHERE name = ?", (info.name,))
            model_id = _insert(conn, session, info, info.filename, bundled=True)
            audit.record(vault, conn, session, "model.register", "model", model_id,
                         details={"name": info.name, "sha256": info.sha256, "bundled": True,
                                  "size": info.size, "license": info.license})
            if conn.execute("SELECT 1 FROM model_assignments WHERE task_kind = ?",
                            (DEFAULT_KIND,)).fetchone() is None:
                conn.execute("INSERT INTO model_assignments (task_kind, model_id) VALUES (?,?)",
                             (DEFAULT_KIND, model_id))
        else:
            model_id = int(row[0])
    return get_model(session, model_id)


def find_bundled(session: Session, sha256: str) -> ModelRecord | None:
    require(session, "model.generate")
    row = session.vault.query_one(f"SELECT {MODEL_COLUMNS} FROM models WHERE bundled = 1 AND "
                                  "active = 1 AND sha256 = ?", (sha256,))
    return None if row is None else _record(session, row)


def _insert(conn: Any, session: Session, info: ModelRecord, filename: str,
            bundled: bool) -> int:
    cur = conn.execute(
        "INSERT INTO models (name, filename, sha256, size, context_length, chat_template, "
        "license, architecture, bundled, note, imported_at, imported_by) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (info.name, filename, info.sha256, info.size, info.context_length, info.chat_template,
         info.license, info.architecture, int(bundled), info.note, clock.iso(clock.now()),
         session.username))
    return int(cur.lastrowid)


def import_model(session: Session, source: Path, info: ModelRecord) -> ModelRecord:
    """Copy a GGUF into the vault's models/ folder and register it. The copy is hashed as
    it is written and must match `info.sha256` (what was inspected); all or nothing."""
    require(session, "model.manage")
    source = Path(source)
    if not source.is_file():
        raise ValidationError(f"no such file: {source}")
    name = info.name.strip()
    if not name or any(c in name for c in "/\\\0"):
        raise ValidationError("a model name needs letters or digits and no slashes")
    if session.vault.query_one("SELECT 1 FROM models WHERE name = ? AND active = 1", (name,)):
        raise ValidationError(f"a model named {name!r} already exists")
    existing = session.vault.query_one("SELECT name FROM models WHERE sha256 = ? AND active = 1",
                                       (info.sha256,))
    if existing:
        raise ValidationError(f"this file is already registered as {existing[0]!r}")
    target_dir = models_dir(session)
    target_dir.mkdir(mode=0o700, exist_ok=True)
    filename = f"{info.sha256[:16]}-{source.name}"
    target = target_dir / filename
    fd, tmp_name = tempfile.mkstemp(dir=target_dir, prefix=".import-", suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != info.sha256:
            raise ValidationError("the file changed while it was being imported "
                                  "(its SHA-256 differs from the one inspected); try again")
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    vault = session.vault
    try:
        with vault.write() as conn:
            model_id = _insert(conn, session, ModelRecord(**{**info.__dict__, "name": name}),
                               filename, bundled=False)
            audit.record(vault, conn, session, "model.import", "model", model_id,
                         details={"name": name, "sha256": info.sha256, "size": info.size,
                                  "context_length": info.context_length,
                                  "license": info.license, "architecture": info.architecture})
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return get_model(session, model_id)


def set_active(session: Session, task_kind: str, name: str) -> ModelRecord:
    """Choose the model for one task kind (or 'default' for all others)."""
    require(session, "model.manage")
    if task_kind not in KINDS and task_kind not in EXTRA_KINDS:
        raise ValidationError(f"unknown task kind {task_kind!r}; one of: "
                              + ", ".join([*EXTRA_KINDS, *KINDS]))
    rec = get_model(session, name)
    vault = session.vault
    with vault.write() as conn:
        before = conn.execute("SELECT model_id FROM model_assignments WHERE task_kind = ?",
                              (task_kind,)).fetchone()
        conn.execute("INSERT INTO model_assignments (task_kind, model_id) VALUES (?, ?) "
                     "ON CONFLICT(task_kind) DO UPDATE SET model_id = excluded.model_id",
                     (task_kind, rec.id))
        audit.record(vault, conn, session, "model.assign", "task_kind", task_kind,
                     details={"before": before[0] if before else None, "after": rec.id,
                              "sha256": rec.sha256})
    return get_model(session, rec.id)


def active_model(session: Session, task_kind: str) -> ModelRecord:
    row = session.vault.query_one(
        "SELECT model_id FROM model_assignments WHERE task_kind IN (?, ?) "
        "ORDER BY task_kind = ? DESC LIMIT 1", (task_kind, DEFAULT_KIND, task_kind))
    if row is None:
        row = session.vault.query_one("SELECT id FROM models WHERE active = 1 "
                                      "ORDER BY bundled DESC, id LIMIT 1")
    if row is None:
        raise NotFound("no model is registered yet; run 'offhold model list' once to register "
                       "the bundled model, or import one")
    return get_model(session, int(row[0]))


@dataclass(frozen=True)
class VerifyOutcome:
    name: str
    ok: bool
    message: str


def verify_models(session: Session) -> list[VerifyOutcome]:
    """Re-hash every registered file against its pinned SHA-256."""
    require(session, "model.manage")
    outcomes = []
    for rec in list_models(session):
        path = model_path(session, rec)
        if not path.is_file():
            outcomes.append(VerifyOutcome(rec.name, False, f"file missing: {path}"))
            continue
        found = file_sha256(path)
        outcomes.append(VerifyOutcome(rec.name, found == rec.sha256, "ok" if found ==
                                      rec.sha256 else f"SHA-256 mismatch: recorded "
                                      f"{rec.sha256[:12]}…, file {found[:12]}…; it will "
                                      "not load"))
    audit.record_now(session.vault, session, "model.verify", object_type="model",
                     details={o.name: o.ok for o in outcomes})
    return outcomes


def record_run(session: Session, run: ModelRun) -> int:
    """Store one prompt and output in the vault, with its audit row (which carries the
    model hash, prompt version, parameters, duration and the hashes of prompt and output),
    and count the grounding result toward the model's pass rate."""
    require(session, "model.generate")
    vault = session.vault
    with vault.write() as conn:
        model_id = run.model_id
        if model_id is None:
            row = conn.execute("SELECT id FROM models WHERE sha256 = ? AND active = 1",
                               (run.model_sha256,)).fetchone()
            model_id = int(row[0]) if row else None
        cur = conn.execute(
            "INSERT INTO model_runs (ts, actor, model_id, model_sha256, prompt_name, "
            "prompt_version, params, prompt, output, finish_reason, prompt_tokens, "
            "completion_tokens, duration_ms, ttft_ms, valid, grounded, task_kind, subject, "
            "patient_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (clock.iso(clock.now()), session.username, model_id, run.model_sha256,
             run.prompt_name, run.prompt_version, json.dumps(run.params, sort_keys=True),
             run.prompt, run.output, run.finish_reason, run.prompt_tokens,
             run.completion_tokens, run.duration_ms, run.ttft_ms,
             None if run.valid is None else int(run.valid),
             None if run.grounded is None else int(run.grounded), run.task_kind, run.subject,
             run.patient_id))
        run_id = int(cur.lastrowid)
        if run.grounded is not None and model_id is not None:
            conn.execute("UPDATE models SET grounding_checks = grounding_checks + 1, "
                         "grounding_passes = grounding_passes + ? WHERE id = ?",
                         (int(run.grounded), model_id))
        audit.record(vault, conn, session, "model.generate", "model_run", run_id,
                     patient_id=run.patient_id, details={
                         "model_sha256": run.model_sha256, "prompt": run.prompt_name,
                         "prompt_version": run.prompt_version, "params": run.params,
                         "duration_ms": run.duration_ms, "finish": run.finish_reason,
                         "tokens": run.completion_tokens, "valid": run.valid,
                         "grounded": run.grounded, "task_kind": run.task_kind,
                         "prompt_sha256": hashlib.sha256(run.prompt.encode()).hexdigest(),
                         "output_sha256": hashlib.sha256(run.output.encode()).hexdigest()})
    return run_id


def set_run_grounding(session: Session, run_id: int, grounded: bool) -> None:
    """Record the grounding verdict of a run decided after it was stored."""
    require(session, "model.generate")
    vault = session.vault
    with vault.write() as conn:
        row = conn.execute("SELECT model_id, grounded FROM model_runs WHERE id = ?",
                           (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"no model run {run_id}")
        if row[1] is not None:
            raise ValidationError(f"model run {run_id} already has a grounding verdict")
        conn.execute("UPDATE model_runs SET grounded = ? WHERE id = ?", (int(grounded), run_id))
        if row[0] is not None:
            conn.execute("UPDATE models SET grounding_checks = grounding_checks + 1, "
                         "grounding_passes = grounding_passes + ? WHERE id = ?",
                         (int(grounded), row[0]))
        audit.record(vault, conn, session, "model.grounding", "model_run", run_id,
                     details={"grounded": grounded})


def list_runs(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """Recent runs without their text (the text is read per run, as an audited view)."""
    require(session, "model.manage")
    rows = session.vault.query(
        "SELECT id, ts, actor, model_sha256, prompt_name, prompt_version, finish_reason, "
        "completion_tokens, duration_ms, valid, grounded, task_kind FROM model_runs "
        "ORDER BY id DESC LIMIT ?", (limit,))
    keys = ["id", "ts", "actor", "model_sha256", "prompt_name", "prompt_version", "finish",
            "tokens", "duration_ms", "valid", "grounded", "task_kind"]
    return [dict(zip(keys, r)) for r in rows]


def model_to_json(rec: ModelRecord) -> dict[str, Any]:
    rate = rec.grounding_pass_rate
    return {"id": rec.id, "name": rec.name, "sha256": rec.sha256, "size": rec.size,
            "context_length": rec.context_length, "license": rec.license,
            "architecture": rec.architecture, "bundled": rec.bundled, "note": rec.note,
            "used_for": rec.used_for, "grounding_checks": rec.grounding_checks,
            "grounding_pass_rate": None if rate is None else round(rate, 3),
            "has_chat_template": bool(rec.chat_template)}


# -- the runtime self-test's verdicts -------------------------------------------------------

HEALTH_KIND = "model_unhealthy"
HEALTH_VALUES = ("healthy", "slow", "broken")
_HEALTH_COLUMNS = ("model_sha256, runtime_id, health, reason, tokens_per_s, tested_at, "
                   "tested_by, task_id")


def _health(row: Any) -> ModelHealth:
    return ModelHealth(model_sha256=row[0], runtime_id=row[1], health=row[2], reason=row[3],
                       tokens_per_s=float(row[4]), tested_at=clock.parse_iso(row[5]),
                       tested_by=row[6], task_id=row[7])


def model_health(session: Session, sha256: str, runtime_id: str) -> ModelHealth | None:
    """The stored self-test verdict of a model on a runtime, or None (never tested)."""
    require(session, "model.generate")
    row = session.vault.query_one(f"SELECT {_HEALTH_COLUMNS} FROM model_health WHERE "
                                  "model_sha256 = ? AND runtime_id = ?", (sha256, runtime_id))
    return None if row is None else _health(row)


def unhealthy_models(session: Session) -> list[tuple[ModelRecord, ModelHealth]]:
    """Registered models whose latest verdict on any runtime is slow or broken, newest
    first (what the app's banner and the Models tab show)."""
    require(session, "model.generate")
    out = []
    # only each model's latest verdict: a healthy re-test on a new runtime clears the
    # failure an older runtime recorded
    for row in session.vault.query(
            f"SELECT {_HEALTH_COLUMNS} FROM model_health h WHERE health != 'healthy' AND "
            "tested_at = (SELECT max(tested_at) FROM model_health WHERE "
            "model_sha256 = h.model_sha256) ORDER BY tested_at DESC"):
        health = _health(row)
        model = session.vault.query_one("SELECT id FROM models WHERE sha256 = ? AND active = 1",
                                        (health.model_sha256,))
        if model is not None:
            out.append((get_model(session, int(model[0])), health))
    return out


def record_health(session: Session, rec: ModelRecord, runtime_id: str, health: str,
                  reason: str, tokens_per_s: float) -> ModelHealth:
    """Store a self-test verdict (audited). Anyone drafting may record the first verdict
    of a model on a runtime; replacing a slow or broken one is the owner's re-test
    (model.manage), so a failing model cannot be put back by whoever drafts next. A slow or
    broken verdict becomes one task and one critical notification for the owner."""
    require(session, "model.generate")
    if health not in HEALTH_VALUES:
        raise ValidationError(f"unknown model health {health!r}")
    previous = model_health(session, rec.sha256, runtime_id)
    if previous is not None and not previous.usable:
        require(session, "model.manage")  # only the owner's re-test puts a model back
    now = clock.now()
    task_id: int | None = None
    if health != "healthy":
        task, _created = queue.create_task(
            session, HEALTH_KIND, f"model-health:{rec.sha256[:16]}:{runtime_id}:"
            f"{clock.iso(now)}", f"Model {rec.name} is {health}: drafts use the templates",
            priority=queue.PRIORITY_HIGH, subject_type="model", subject_id=rec.id,
            draft=(f"The self-test of model {rec.name} on this computer found it {health}: "
                   f"{reason}. Until it is re-tested, every draft that would use it is "
                   "written from the template and says so. What to do: "
                   + health_advice(health)),
            payload={"model_sha256": rec.sha256, "runtime_id": runtime_id,
                     "health": health, "reason": reason})
        task_id = task.id
    vault = session.vault
    with vault.write() as conn:
        conn.execute(
            f"INSERT INTO model_health ({_HEALTH_COLUMNS}) VALUES (?,?,?,?,?,?,?,?) "
            "ON CONFLICT(model_sha256, runtime_id) DO UPDATE SET health = excluded.health, "
            "reason = excluded.reason, tokens_per_s = excluded.tokens_per_s, "
            "tested_at = excluded.tested_at, tested_by = excluded.tested_by, "
            "task_id = excluded.task_id",
            (rec.sha256, runtime_id, health, reason, float(tokens_per_s), clock.iso(now),
             session.username, task_id))
        audit.record(vault, conn, session, "model.selftest", "model", rec.id,
                     details={"sha256": rec.sha256, "runtime_id": runtime_id,
                              "health": health, "reason": reason,
                              "tokens_per_s": round(float(tokens_per_s), 1),
                              "before": previous.health if previous else None})
        if task_id is not None:
            queue.notify(conn, health_message(rec.name, health, reason), role="owner",
                         task_id=task_id, level="critical")
    result = model_health(session, rec.sha256, runtime_id)
    assert result is not None
    return result


def health_message(name: str, health: str, reason: str) -> str:
    """The one line the app's banner and notification show for a slow or broken model."""
    return (f"Model {name} is {health} ({reason}). Drafts use the templates until the owner "
            "re-tests it in Settings > Models.")


def health_advice(health: str) -> str:
    """What the owner can do about a slow or broken model."""
    if health == "slow":
        return ("close other busy programs and re-test it (Settings > Models > Re-test, or "
                "'offhold model verify'), lower its thread count, or choose a smaller model.")
    return ("re-test it (Settings > Models > Re-test, or 'offhold model verify'); if it "
            "fails again, re-install OffHold on this computer or choose another model.")
