"""The monthly PDF from the demo vault: de-identified by default (no patient name or
member ID in its text), the owner-only PHI appendix marked on every page and audited."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from app.errors import PermissionDenied, ValidationError
from app.identity import Role, Session, unlock
from app.reports.monthly import PHI_BANNER
from app.services import reports
from automations.demo import DEMO_USERS, build_demo


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo") / "vault"
    build_demo(directory)
    return directory


@pytest.fixture
def owner(demo_dir: Path) -> Iterator[Session]:
    user = DEMO_USERS[0]
    session = unlock(demo_dir, str(user["user"]), str(user["password"]))
    yield session
    session.vault.close()


def _identifiers(session: Session) -> set[str]:
    vault = session.vault
    found = {v for (v,) in vault.query("SELECT member_id FROM coverages UNION SELECT "
                                        "member_id FROM remit_claims UNION SELECT last_name "
                                        "FROM patients UNION SELECT first_name FROM patients "
                                        "UNION SELECT patient_last FROM remit_claims")}
    return {v for v in found if v and len(v) > 2}


def _pages(pdf: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf.read_bytes())).pages]


def test_deidentified_report_holds_no_patient_name_or_member_id(owner: Session,
                                                                 tmp_path: Path) -> None:
    out = reports.export_monthly_report(owner, 2026, 11, tmp_path / "nov.pdf")
    pages = _pages(out)
    text = "\n".join(pages)
    assert "Monthly report - November 2026" in text and "October 2026" in text
    for heading in ("Prior authorization", "Revenue cycle", "Eligibility and schedule",
                    "Work queues", "Trust and modes", "Method notes"):
        assert heading in text
    identifiers = _identifiers(owner)
    assert len(identifiers) > 20  # the demo really has patients to leak
    leaked = sorted(i for i in identifiers if i in text)
    assert leaked == []
    assert PHI_BANNER not in text
    row = owner.vault.query_one("SELECT actor, details FROM audit_log WHERE action = "
                                "'report.monthly' ORDER BY id DESC")
    assert row[0] == "olivia" and '"phi_appendix": false' in row[1]


def test_phi_appendix_is_marked_on_every_page_and_audited(owner: Session,
                                                          tmp_path: Path) -> None:
    out = reports.export_monthly_report(owner, 2026, 11, tmp_path / "nov-phi.pdf",
                                        phi_appendix=True)
    pages = _pages(out)
    start = next(i for i, t in enumerate(pages) if "Appendix: identifiers (PHI)" in t)
    appendix = pages[start:]
    assert all(PHI_BANNER in page for page in appendix)
    assert all(PHI_BANNER not in page for page in pages[:start])
    assert any(i in "\n".join(appendix) for i in _identifiers(owner))
    assert not any(i in "\n".join(pages[:start]) for i in _identifiers(owner))
    row = owner.vault.query_one("SELECT actor, details FROM audit_log WHERE action = "
                                "'report.phi_export' ORDER BY id DESC")
    assert row[0] == "olivia" and '"phi_appendix": true' in row[1]


def test_the_phi_export_is_owner_only_on_disk(owner: Session, tmp_path: Path) -> None:
    """Like the denial letter export (remittance.export_letter): 0600, whatever the
    umask, and an existing file is narrowed too."""
    import os
    import stat
    old = os.umask(0o022)
    try:
        (tmp_path / "old.pdf").write_bytes(b"x")
        for name in ("nov-phi.pdf", "old.pdf"):
            out = reports.export_monthly_report(owner, 2026, 11, tmp_path / name,
                                                phi_appendix=True)
            assert stat.S_IMODE(out.stat().st_mode) == 0o600, name
    finally:
        os.umask(old)


def test_only_the_owner_exports(owner: Session, tmp_path: Path) -> None:
    manager = Session(owner.vault, "mgr", frozenset({Role.OFFICE_MANAGER}))
    with pytest.raises(PermissionDenied):
        reports.export_monthly_report(manager, 2026, 11, tmp_path / "x.pdf")
    assert not (tmp_path / "x.pdf").exists()
    with pytest.raises(ValidationError, match="no such folder"):
        reports.export_monthly_report(owner, 2026, 11, tmp_path / "missing" / "x.pdf")


def test_cli_writes_the_report_for_the_owner_only(demo_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from ui.cli import main
    monkeypatch.setenv("OFFHOLD_VAULT", str(demo_dir))
    for user in DEMO_USERS:
        monkeypatch.setenv("OFFHOLD_USER", str(user["user"]))
        monkeypatch.setenv("OFFHOLD_PASSWORD", str(user["password"]))
        out = tmp_path / f"{user['user']}.pdf"
        code = main(["report", "monthly", "--month", "2026-11", "--out", str(out), "--json"])
        stdout, err = capsys.readouterr()
        if "owner" in user["roles"]:
            assert code == 0 and out.read_bytes().startswith(b"%PDF")
            assert '"phi_appendix": false' in stdout
        else:
            assert code == 1 and "may not report.monthly" in err and not out.exists()
    code = main(["report", "monthly", "--month", "11/2026", "--out", str(tmp_path / "y.pdf")])
    assert code == 1 and "YYYY-MM" in capsys.readouterr().err


def test_a_column_heading_is_aligned_like_its_figures() -> None:
    """Figures are right-aligned; their headings were left-aligned, over nothing (seen on
    the rendered queue-aging table)."""
    from reportlab.lib.enums import TA_LEFT, TA_RIGHT

    from app.reports.monthly import _table
    table = _table([["Kind", "0-2", ">14"], ["Tasks", 0, 105]])
    heads = [table._cellvalues[0][col] for col in range(3)]
    assert [h.style.alignment for h in heads] == [TA_LEFT, TA_RIGHT, TA_RIGHT]
