"""An approved intake form applies the subscriber (name, date of birth) and the patient's
relationship to them to the coverage, as it applies payer, member ID and group (issue 12);
a form that leaves them blank overwrites nothing with blanks."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest

from app.identity import Session, init_vault
from app.intake.extract import extract
from app.services import patients
from ui.cli import main

PW = "cli-owner-password"
CHILD_FORM = """Patient Name: Milo Zzyzxquell
Date of Birth: 03/09/2015
Insurance: Acme Health
Member ID: ZQM4455667-02
Group Number: G-88
Subscriber Name: Quintessa Zzyzxquell
Subscriber's Date of Birth: 04/12/1975
Patient's Relationship to Subscriber: Daughter
"""


def test_the_form_reads_the_subscriber_apart_from_the_patient() -> None:
    values = {v.field: v.value for v in extract(CHILD_FORM).values}
    assert values["dob"] == "03/09/2015" and values["subscriber_dob"] == "04/12/1975"
    assert values["subscriber_name"] == "Quintessa Zzyzxquell"
    assert values["subscriber_relationship"] == "Daughter"


@pytest.mark.parametrize(("said", "kept"), [
    ("Daughter", "child"), ("son", "child"), ("Dependent child", "child"), ("Wife", "spouse"),
    ("SELF", "self"), ("grandmother", "other"), ("", "")])
def test_relationship_words(said: str, kept: str) -> None:
    assert patients.form_relationship(said) == kept


@pytest.fixture
def vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, int]:
    directory = tmp_path / "v"
    session, _ = init_vault(directory, "CLI Practice", "boss", PW)
    patients.add_payer(session, "Acme Health", "commercial")
    pid = patients.add_patient(session, "Milo", "Zzyzxquell", "2015-03-09",
                               member_id="ZQM4455667-02", payer="Acme Health").id
    session.vault.close()
    monkeypatch.setenv("OFFHOLD_VAULT", str(directory))
    monkeypatch.setenv("OFFHOLD_USER", "boss")
    monkeypatch.setenv("OFFHOLD_PASSWORD", PW)
    return directory, pid


def _approve_form(tmp_path: Path, text: str, pid: int,
                  capsys: pytest.CaptureFixture[str]) -> None:
    form = tmp_path / "form.txt"
    form.write_text(text)
    assert main(["mode", "set", "intake_review", "approve_each"], stdin=io.StringIO()) == 0
    assert main(["intake", "import", str(form), "--patient", str(pid), "--no-model"],
                stdin=io.StringIO()) == 0
    task_id = int(capsys.readouterr().out.strip())
    assert main(["tasks", "approve", str(task_id)], stdin=io.StringIO()) == 0
    capsys.readouterr()


def _coverage(capsys: pytest.CaptureFixture[str], pid: int) -> dict[str, object]:
    assert main(["patient", "show", str(pid), "--json"], stdin=io.StringIO()) == 0
    [cov] = json.loads(capsys.readouterr().out)["coverages"]
    return dict(cov)


def test_a_childs_form_names_the_parent_as_subscriber_and_a_blank_form_keeps_it(
        vault: tuple[Path, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, pid = vault
    _approve_form(tmp_path, CHILD_FORM, pid, capsys)
    cov = _coverage(capsys, pid)
    assert (cov["subscriber"], cov["subscriber_dob"], cov["relationship"]) == (
        "Quintessa Zzyzxquell", "1975-04-12", "child")
    assert cov["group"] == "G-88"
    # a later form with the insurance but no subscriber lines: nothing is blanked
    _approve_form(tmp_path, CHILD_FORM.split("Subscriber Name")[0], pid, capsys)
    assert _coverage(capsys, pid) == cov


def test_blank_subscriber_values_never_overwrite_and_self_clears(practice: Session) -> None:
    pid = patients.list_patients(practice)[0].id
    patients.apply_form_insurance(practice, pid, "Acme Health", "ZQM4455667",
                                  subscriber_name="Rex Zzyzxquell", subscriber_dob="1950-01-02",
                                  subscriber_relationship="spouse")
    note = patients.apply_form_insurance(practice, pid, "Acme Health", "ZQM4455667",
                                         subscriber_name=" ", subscriber_dob="",
                                         subscriber_relationship="")
    assert note.endswith("no changes")
    [cov] = patients.get_patient(practice, pid).coverages
    assert (cov.subscriber_name, cov.subscriber_dob, cov.subscriber_relationship) == (
        "Rex Zzyzxquell", date(1950, 1, 2), "spouse")
    # the patient now holds the policy: the other person's name and birth date go
    patients.apply_form_insurance(practice, pid, "Acme Health", "ZQM4455667",
                                  subscriber_relationship="Self")
    [cov] = patients.get_patient(practice, pid).coverages
    assert (cov.subscriber_name, cov.subscriber_dob, cov.subscriber_relationship) == (
        "", None, "self")
    # a dependant with no subscriber named anywhere: the relationship waits for a person
    note = patients.apply_form_insurance(practice, pid, "Acme Health", "ZQM4455667",
                                         subscriber_relationship="son")
    assert "relationship not applied" in note
    assert patients.get_patient(practice, pid).coverages[0].subscriber_relationship == "self"


def test_cli_coverage_keeps_the_subscribers_date_of_birth(
        vault: tuple[Path, int], capsys: pytest.CaptureFixture[str]) -> None:
    _, pid = vault
    cov_id = _coverage(capsys, pid)["id"]
    assert main(["patient", "coverage", "edit", str(cov_id), "--subscriber", "Quintessa Z",
                 "--relationship", "child", "--subscriber-dob", "1975-04-12"],
                stdin=io.StringIO()) == 0
    capsys.readouterr()
    assert _coverage(capsys, pid)["subscriber_dob"] == "1975-04-12"
    assert main(["patient", "coverage", "edit", str(cov_id), "--subscriber-dob", "2999-01-01"],
                stdin=io.StringIO()) == 1
    assert "in the future" in capsys.readouterr().err
