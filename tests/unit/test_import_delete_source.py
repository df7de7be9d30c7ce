"""Deleting an import's source file (issue 12: the files hold PHI, so OffHold offers to
delete one after a verified import): only once the import's row is in the vault and the
file still hashes to what was imported; audited without the file's name; offered on a
terminal by `offhold import`, or chosen with --delete-source / --keep-source."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from app.errors import NotFound, PermissionDenied, ValidationError
from app.identity import Session
from app.identity.permissions import Role
from app.services import imports
from tests.unit.imports_cli import use_cli
from tests.unit.test_import_837 import CLAIMS, build_837
from tests.unit.test_import_csv import ROSTER
from ui.cli import main

PATIENT = (b'{"resourceType": "Patient", "id": "p%d", "name": [{"family": "Zzyzxquell", '
           b'"given": ["A"]}], "birthDate": "1970-01-01"}\n')
GOOD_ROSTER = b"id,first,last,dob\nC1,Ann,Zzyzxquell,1961-04-02\nC2,Bo,Quorvath,1970-01-01\n"


def _audits(session: Session) -> list[dict[str, object]]:
    return [json.loads(r[0]) for r in session.vault.query(
        "SELECT details FROM audit_log WHERE action = 'import.source_deleted' ORDER BY id")]


def _csv_import(session: Session, path: Path) -> int:
    imports.save_mapping(session, "roster", "patients", {"id": "id", "first_name": "first",
                                                         "last_name": "last", "dob": "dob"})
    out = imports.import_csv(session, path.read_bytes(), "roster")
    assert out.import_id is not None
    return out.import_id


def test_a_verified_import_deletes_its_file_and_audits_no_name(owner_session: Session,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "zzyzxquell_roster.csv"
    path.write_bytes(GOOD_ROSTER)
    import_id = _csv_import(owner_session, path)
    assert imports.delete_imported_files(owner_session, "csv", import_id, [path]) == 1
    assert not path.exists()
    [details] = _audits(owner_session)
    assert details["files"] == 1 and details["kind"] == "csv"
    assert "zzyzxquell" not in json.dumps(details).lower()


def test_a_changed_or_other_file_is_kept(owner_session: Session, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(GOOD_ROSTER)
    import_id = _csv_import(owner_session, path)
    path.write_bytes(GOOD_ROSTER + b"C3,Cy,Vex,1980-01-01\n")  # re-exported since
    with pytest.raises(ValidationError, match="not what was imported"):
        imports.delete_imported_files(owner_session, "csv", import_id, [path])
    with pytest.raises(NotFound):  # the import is a CSV one, not an 837
        imports.delete_imported_files(owner_session, "837", import_id, [path])
    with pytest.raises(NotFound):
        imports.delete_imported_files(owner_session, "csv", import_id + 99, [path])
    assert path.exists() and _audits(owner_session) == []


def test_fhir_files_are_verified_together(owner_session: Session, tmp_path: Path) -> None:
    a, b = tmp_path / "Patient.ndjson", tmp_path / "More.ndjson"
    a.write_bytes(PATIENT % 1)
    b.write_bytes(PATIENT % 2)
    out = imports.import_fhir(owner_session, [(a.name, a.read_bytes()), (b.name, b.read_bytes())])
    assert out.import_id is not None
    with pytest.raises(ValidationError):  # one of the two is not the import
        imports.delete_imported_files(owner_session, "fhir", out.import_id, [a])
    assert imports.delete_imported_files(owner_session, "fhir", out.import_id, [a, b]) == 2
    assert not a.exists() and not b.exists()


def test_the_import_permission_of_the_kind_is_needed(owner_session: Session,
                                                     tmp_path: Path) -> None:
    path = tmp_path / "claims.837"
    path.write_bytes(build_837(CLAIMS))
    out = imports.import_837(owner_session, path.read_bytes())
    assert out.import_id is not None
    biller = Session(owner_session.vault, "bill", frozenset({Role.BILLER}))
    with pytest.raises(PermissionDenied):
        imports.delete_imported_files(biller, "csv", out.import_id, [path])
    assert imports.delete_imported_files(biller, "837", out.import_id, [path]) == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("flags", "stdin", "kept"), [
    ([], io.StringIO(""), True),  # a script: never asked, kept
    ([], _Terminal("n\n"), True),
    ([], _Terminal("y\n"), False),
    (["--delete-source"], io.StringIO(""), False),
    (["--keep-source"], _Terminal("y\n"), True),
])
def test_the_cli_asks_on_a_terminal_and_obeys_the_flags(
        owner_session: Session, vault_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        flags: list[str], stdin: io.StringIO, kept: bool) -> None:
    path = tmp_path / "claims.837"
    path.write_bytes(build_837(CLAIMS))
    use_cli(owner_session, vault_dir, monkeypatch)
    code = main(["import", "837", str(path), "--json", *flags], stdin=stdin)
    out, err = capsys.readouterr()
    assert code == 0
    assert path.exists() is kept
    assert json.loads(out)[0]["source_deleted"] is not kept
    assert ("Delete the file(s)?" in err) is (isinstance(stdin, _Terminal) and not flags)


def test_the_cli_deletes_fhir_and_csv_sources_too(owner_session: Session, vault_dir: Path,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "p.ndjson"
    bundle.write_bytes(PATIENT % 1)
    roster = tmp_path / "roster.csv"
    roster.write_bytes(ROSTER)
    use_cli(owner_session, vault_dir, monkeypatch)
    assert main(["import", "fhir", str(bundle), "--delete-source"]) == 0
    assert main(["import", "csv", str(roster), "--mapping", "acme", "--target", "patients",
                 "--skip-bad", "--delete-source"]) == 0
    # a skipped row exists only in the file: it is kept even when asked to delete
    assert not bundle.exists() and roster.exists()
    err = capsys.readouterr().err
    assert "deleted 1 file(s) after verifying the import" in err
    assert "kept: 1 record(s) were skipped and exist only in the file" in err
    roster.write_bytes(ROSTER.replace(b"C-3,Cy,Plimsett,02/30/1980,M,,\r\n", b""))
    assert main(["import", "csv", str(roster), "--mapping", "acme", "--target", "patients",
                 "--delete-source"]) == 0
    assert not roster.exists()


def test_a_file_whose_records_were_skipped_is_never_deleted(owner_session: Session,
                                                            tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(GOOD_ROSTER + b"C3,Cy,Vex,1980-02-30\n")
    imports.save_mapping(owner_session, "roster", "patients", {
        "id": "id", "first_name": "first", "last_name": "last", "dob": "dob"})
    out = imports.import_csv(owner_session, path.read_bytes(), "roster", skip_bad=True)
    assert out.import_id is not None and len(out.skipped) == 1
    with pytest.raises(ValidationError, match="1 record.s. were skipped"):
        imports.delete_imported_files(owner_session, "csv", out.import_id, [path])
    assert path.exists()


def test_a_link_to_the_imported_file_is_not_deleted_as_if_it_were_the_file(
        owner_session: Session, tmp_path: Path) -> None:
    """Unlinking a symlink leaves the export it points to: the PHI would stay on disk
    while the person (and the audit row) were told it was deleted."""
    real = tmp_path / "exports" / "roster.csv"
    real.parent.mkdir()
    real.write_bytes(GOOD_ROSTER)
    link = tmp_path / "roster.csv"
    link.symlink_to(real)
    import_id = _csv_import(owner_session, link)
    with pytest.raises(ValidationError, match="is a link"):
        imports.delete_imported_files(owner_session, "csv", import_id, [link])
    assert link.is_symlink() and real.exists() and _audits(owner_session) == []


def test_a_new_export_renamed_over_the_name_while_it_is_checked_is_kept(
        owner_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old file is read and hashes to the import; meanwhile the EHR renames tonight's
    export over the same name. Before, the name was unlinked after the hash matched:
    the new export, never imported, was the file deleted."""
    import os

    from app.imports import files

    path = tmp_path / "roster.csv"
    path.write_bytes(GOOD_ROSTER)
    import_id = _csv_import(owner_session, path)
    real = files.read_import_file

    def read_then_replaced(p: Path, kind: str) -> bytes:
        data = real(p, kind)
        fresh = tmp_path / "tonight.tmp"
        fresh.write_bytes(GOOD_ROSTER + b"C3,Cy,Vex,1980-01-01\n")
        os.replace(fresh, p)
        return data

    monkeypatch.setattr(files, "read_import_file", read_then_replaced)
    with pytest.raises(ValidationError, match="changed while it was checked"):
        imports.delete_imported_files(owner_session, "csv", import_id, [path])
    assert path.read_bytes().endswith(b"C3,Cy,Vex,1980-01-01\n")
    assert _audits(owner_session) == []
