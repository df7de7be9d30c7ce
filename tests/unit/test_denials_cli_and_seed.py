"""The revenue CLI (`offhold import 835/271/277`, `eligibility request`, `estimate`,
`remit list/show`) and the demo seed's spread of outcomes."""

from __future__ import annotations

import io
import json
import random
from datetime import date
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from app.identity import init_vault
from app.x12.synth import SynthClaim, SynthLine, build_835
from ui.cli import main

X12 = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "x12"  # ../shared/corpus
PW = "owner-password-1"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from app.services import patients
    vault = tmp_path / "v"
    session, _ = init_vault(vault, "CLI Practice", "owner", PW)
    patients.add_payer(session, "Acme Health", "commercial", appeal_window_days=180)
    patients.add_patient(session, "Quintessa", "Zzyzxquell", "1975-04-12",
                         member_id="ZQM4455667", payer="Acme Health")
    session.vault.close()
    monkeypatch.setenv("OFFHOLD_PASSWORD", PW)
    monkeypatch.setenv("OFFHOLD_VAULT", str(vault))
    monkeypatch.setenv("OFFHOLD_USER", "owner")
    return vault


def call(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv, stdin=io.StringIO(""))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_commands(cli: Path, tmp_path: Path, capsys: Any) -> None:
    era = tmp_path / "era.835"
    era.write_bytes(build_835([SynthClaim(
        "C1", "4", "ZZYZXQUELL", "QUINTESSA", "ZQM4455667", date(2026, 9, 1),
        [SynthLine("99214", D("200.00"), D("0.00"), [("CO", "50", D("200.00"))])])],
        payer_name="Acme Health", payer_id="ACME", trace="T1", paid_on=date(2026, 10, 1)))
    bad = tmp_path / "bad.835"
    bad.write_bytes(era.read_bytes().replace(b"CLP*C1*4*", b"CLP*C1*4*X"))
    code, out, err = call(["import", "835", str(era), str(bad), "--json"], capsys)
    assert code == 1  # one file rejected
    results = json.loads(out)
    assert results[0]["stored"] == 1 and results[0]["denials"] == 1
    assert "CLP03 charge 'X200.00' is not a number" in results[1]["rejected"]
    assert "segment" in results[1]["rejected"] and "at byte" in results[1]["rejected"]
    assert "REJECTED, nothing imported" in err
    code, out, err = call(["import", "835", str(era)], capsys)
    assert code == 0 and "0 new, 1 already imported" in err
    code, out, err = call(["import", "271", str(X12 / "271/nodex12__271.edi"), "--lenient"],
                          capsys)
    assert code == 0 and "finding" in err
    code, out, err = call(["import", "277", str(X12 / "277/lfh__claim-level-status.277")],
                          capsys)
    assert code == 0 and "2 tasks" in err
    code, out, _ = call(["remit", "list", "--json"], capsys)
    rid = json.loads(out)[0]["id"]
    code, out, _ = call(["remit", "show", str(rid), "--json"], capsys)
    assert json.loads(out)["claims"][0]["category"] == "medical_necessity"


def test_eligibility_request_and_estimate(cli: Path, tmp_path: Path, capsys: Any) -> None:
    code, _out, err = call(["eligibility", "request", "--patient", "1", "--date",
                            "2026-11-03"], capsys)
    assert code == 1 and "NPI" in err
    assert call(["settings", "set", "practice_npi", "1234567893"], capsys)[0] == 0
    code, out, _ = call(["eligibility", "request", "--patient", "1", "--date", "2026-11-03"],
                        capsys)
    assert code == 0 and out.startswith("ISA*") and "NM1*IL*1*ZZYZXQUELL" in out
    target = tmp_path / "out.x12"
    code, out, _ = call(["eligibility", "request", "--patient", "1", "--date", "2026-11-03",
                         "--out", str(target), "--json"], capsys)
    assert code == 0 and json.loads(out)["written"] == str(target)
    assert target.read_bytes().startswith(b"ISA*")
    code, out, _ = call(["estimate", "--patient", "1", "--visit-type", "office_visit"],
                        capsys)
    assert code == 0 and "ESTIMATE" in out and "no eligibility response" in out


def test_demo_seed_spread(owner_session: Any) -> None:
    from automations.seeds import s10_practice, s60_revenue
    rng = random.Random(1)
    s10_practice.seed(owner_session, rng)
    s60_revenue.seed(owner_session, rng)
    cats = {r[0] for r in owner_session.vault.query("SELECT category FROM remit_claims")}
    assert {"patient_responsibility", "missing_info", "medical_necessity", "authorization",
            "bundling", "duplicate", "eligibility", "timely_filing"} <= cats
    assert owner_session.vault.query_one(
        "SELECT count(*) FROM remit_claims WHERE status_code = '22'")[0] == 1
    assert owner_session.vault.query_one("SELECT count(*) FROM remit_plb")[0] == 2
    assert all(r[0] == 1 for r in owner_session.vault.query("SELECT balanced FROM remittances"))
    kinds = dict(owner_session.vault.query(
        "SELECT kind, count(*) FROM tasks GROUP BY kind"))  # s10 makes none: all s60's
    assert kinds["denial_review"] >= 7 and kinds["claim_status"] == 2
    assert kinds.get("eligibility_gap", 0) >= 1



@pytest.mark.parametrize("rel, kind", [
    ("835/stupidedi__era-sample.edi", "835"), ("271/lfh__subscriber-health-benefit-check.271",
                                               "271"),
    ("277/lfh__claim-level-status.277", "277"), ("837p/uhin__837.edi", None)])
def test_import_any_kind(practice: Any, rel: str, kind: str | None) -> None:
    from app.x12.errors import X12Error
    from automations.workflows.denials import import_x12_file
    data = (X12 / rel).read_bytes()
    if kind is None:
        with pytest.raises(X12Error, match="not 837") as info:
            import_x12_file(practice, data)
        assert info.value.segment_id == "ST"
        return
    assert import_x12_file(practice, data).kind == kind
