"""CLI: `offhold intake import FILE [--patient ID]` and `offhold outreach draft` print the
new task's ID; `offhold model list|use|verify`; approval through `offhold tasks approve`
applies the registered effects; errors are one line with exit code 1."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from app.identity import init_vault
from app.services import patients
from ui.cli import main

PW = "cli-owner-password"
BASE = Path(__file__).resolve().parents[1] / "fixtures" / "intake" / "base.txt"


@pytest.fixture
def vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, int]:
    directory = tmp_path / "v"
    session, _ = init_vault(directory, "CLI Practice", "boss", PW)
    patients.add_payer(session, "Acme Health", "commercial")
    pid = patients.add_patient(session, "Quintessa", "Zzyzxquell", "1975-04-12",
                               member_id="ZQM4455667", payer="Acme Health",
                               phone="555-0101").id
    session.vault.close()
    monkeypatch.setenv("OFFHOLD_VAULT", str(directory))
    monkeypatch.setenv("OFFHOLD_USER", "boss")
    monkeypatch.setenv("OFFHOLD_PASSWORD", PW)
    return directory, pid


def call(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv, stdin=io.StringIO(""))
    out, err = capsys.readouterr()
    return code, out, err


def test_intake_import_prints_the_task_id_and_approval_applies_it(
        vault: tuple[Path, int], capsys: pytest.CaptureFixture[str]) -> None:
    _, pid = vault
    assert call(["mode", "set", "intake_review", "approve_each"], capsys)[0] == 0
    code, out, err = call(["intake", "import", str(BASE), "--patient", str(pid),
                           "--no-model"], capsys)
    assert code == 0, err
    task_id = int(out.strip())
    assert f"intake task {task_id}" in err
    code, out, _ = call(["intake", "show", str(task_id), "--json"], capsys)
    view = json.loads(out)
    assert view["fields"]["member_id"] == "ZQM4455667" and view["highlights"]
    code, out, err = call(["tasks", "approve", str(task_id)], capsys)
    assert code == 0, err
    assert "done" in out


def test_outreach_draft_prints_the_task_id(vault: tuple[Path, int],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _, pid = vault
    code, out, err = call(["outreach", "draft", "--patient", str(pid), "--kind",
                           "balance_notice", "--amount", "$20.00", "--no-model"], capsys)
    assert code == 0, err
    task_id = int(out.strip())
    assert "NOT TCPA-exempt" in err
    code, out, err = call(["outreach", "draft", "--patient", str(pid), "--kind", "no_show",
                           "--channel", "email", "--no-model"], capsys)
    assert code == 1 and "no email address" in err and out == ""
    assert task_id > 0


def test_model_commands(vault: tuple[Path, int], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(["model", "list", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    bundled = data["models"][0]
    assert bundled["bundled"] and "prose is weak" in bundled["note"]
    assert "Q4_K_M" in data["recommendation"]
    code, out, err = call(["model", "use", bundled["name"], "--for", "outreach"], capsys)
    assert code == 0 and "outreach" in out
    code, out, err = call(["model", "verify"], capsys)
    assert code == 0 and out.startswith("ok")
    code, out, err = call(["model", "import", "/no/such.gguf"], capsys)
    assert code == 1 and "no such model file" in err


def test_patient_list_json_shows_the_same_coverage_as_show(
        vault: tuple[Path, int], capsys: pytest.CaptureFixture[str]) -> None:
    _, pid = vault
    code, out, err = call(["patient", "list", "--json"], capsys)
    assert code == 0, err
    [listed] = [p for p in json.loads(out) if p["id"] == pid]
    code, out, err = call(["patient", "show", str(pid), "--json"], capsys)
    assert code == 0, err
    assert listed["coverages"] == json.loads(out)["coverages"]
    assert listed["coverages"][0]["member_id"] == "ZQM4455667"


GILMAN = Path("/work/shared/corpus/forms/gilman_family_practice")


@pytest.mark.skipif(not GILMAN.is_dir(), reason="shared corpus not present")
def test_intake_show_works_on_every_real_form(vault: tuple[Path, int],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    for path in sorted(GILMAN.glob("*.pdf")):  # every form of the practice, blank
        code, out, err = call(["intake", "import", str(path), "--no-model"], capsys)
        assert code == 0, (path.name, err)
        code, out, err = call(["intake", "show", out.strip(), "--json"], capsys)
        assert code == 0, (path.name, err)
        view = json.loads(out)
        # a blank form: no label read as a value ("Last" was the first name)
        assert not any(view["fields"].get(k) for k in ("first_name", "last_name", "dob",
                                                        "sex", "phone", "email")), path.name


def test_intake_import_refuses_a_file_over_the_cap_before_reading_it(
        vault: tuple[Path, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from app.intake import source
    monkeypatch.setattr(source, "MAX_BYTES", 1024)
    big = tmp_path / "big.txt"
    big.write_bytes(b"Name: A B\n" * 1000)
    code, _out, err = call(["intake", "import", str(big), "--no-model"], capsys)
    assert code == 1 and "limited to" in err
