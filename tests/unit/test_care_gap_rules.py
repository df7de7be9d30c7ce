"""Care-gap rules at every boundary: the birthday entering and leaving the population,
the interval that has just expired, the season's edges, an exclusion; and the rule files
checked against their schema (pure: no vault)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta

from app.care_gaps.rules import PatientFacts, Record, Rule, evaluate, load_rules
from app.rulefiles import RuleFileError

TODAY = date(2026, 12, 1)
RULES = {r.id: r for r in load_rules()}
LOINC, SNOMED, CVX = "http://loinc.org", "http://snomed.info/sct", "http://hl7.org/fhir/sid/cvx"


def born(years: int, days: int = 0) -> date:
    """The date of birth that makes someone `years` old, `days` days past that birthday."""
    return TODAY - relativedelta(years=years) - relativedelta(days=days)


def status(rule: str, dob: date, sex: str = "female", records: tuple[Record, ...] = (),
           plans: frozenset[str] = frozenset(), today: date = TODAY) -> str:
    return evaluate(RULES[rule], PatientFacts(1, dob, sex, records, plans), today).status


def test_the_shipped_rules_load_and_cite_their_source() -> None:
    assert set(RULES) == {"breast_cancer_screening", "colorectal_cancer_screening",
                          "diabetes_hba1c", "medicare_annual_wellness", "influenza_vaccine"}
    assert all(r.url.startswith("https://") and r.citation for r in RULES.values())
    assert "2024" in RULES["breast_cancer_screening"].citation


def test_breast_screening_population_birthdays() -> None:
    assert status("breast_cancer_screening", born(40)) == "open"          # 40th birthday
    assert status("breast_cancer_screening", born(40, -1)) == "not_applicable"  # the eve
    assert status("breast_cancer_screening", born(75, -1)) == "open"      # last day at 74
    assert status("breast_cancer_screening", born(75)) == "not_applicable"  # 75th birthday
    assert status("breast_cancer_screening", born(50), sex="M") == "not_applicable"


def test_breast_screening_interval_just_expired_and_exclusion() -> None:
    two_years = TODAY - relativedelta(months=24)
    mammo = lambda on: Record("observation", LOINC, "24606-6", on)  # noqa: E731
    result = evaluate(RULES["breast_cancer_screening"],
                      PatientFacts(1, born(55), "F", (mammo(two_years),)), TODAY)
    assert result.status == "open" and result.due_on == TODAY
    assert "last screening mammography 2024-12-01 (LOINC 24606-6)" in result.reason
    assert status("breast_cancer_screening", born(55),
                  records=(mammo(two_years + relativedelta(days=1)),)) == "met"
    cpt = Record("procedure", "http://www.ama-assn.org/go/cpt", "77067", TODAY)
    assert status("breast_cancer_screening", born(55), records=(cpt,)) == "met"
    mastectomy = Record("procedure", SNOMED, "456903003", date(2019, 3, 2))
    assert status("breast_cancer_screening", born(55), records=(mastectomy,)) == "excluded"
    absent = Record("condition", "http://hl7.org/fhir/sid/icd-10-cm", "Z90.13", None)
    assert status("breast_cancer_screening", born(55), records=(absent,)) == "excluded"


def test_colorectal_by_modality_interval() -> None:
    colonoscopy = Record("procedure", SNOMED, "73761001", TODAY - relativedelta(years=9))
    assert status("colorectal_cancer_screening", born(60), "M", (colonoscopy,)) == "met"
    old = Record("procedure", SNOMED, "73761001", TODAY - relativedelta(years=10))
    assert status("colorectal_cancer_screening", born(60), "M", (old,)) == "open"
    fit = lambda months: Record("observation", LOINC, "29771-3",  # noqa: E731
                                TODAY - relativedelta(months=months))
    assert status("colorectal_cancer_screening", born(60), "M", (fit(11),)) == "met"
    assert status("colorectal_cancer_screening", born(60), "M", (fit(12),)) == "open"
    # the most recent test decides: an old colonoscopy and this year's FIT
    assert status("colorectal_cancer_screening", born(60), "M", (old, fit(3))) == "met"
    assert status("colorectal_cancer_screening", born(45), "M") == "open"
    assert status("colorectal_cancer_screening", born(45, -1), "M") == "not_applicable"
    assert status("colorectal_cancer_screening", born(76, -1), "M") == "open"  # still 75
    assert status("colorectal_cancer_screening", born(76), "M") == "not_applicable"
    cancer = Record("condition", "http://hl7.org/fhir/sid/icd-10-cm", "C18.9", None)
    assert status("colorectal_cancer_screening", born(60), "M", (cancer,)) == "excluded"


def test_hba1c_every_six_months_for_diabetes() -> None:
    diabetes = Record("condition", SNOMED, "44054006", date(2019, 6, 25), "active")
    a1c = lambda on: Record("observation", LOINC, "4548-4", on)  # noqa: E731
    six = TODAY - relativedelta(months=6)
    assert status("diabetes_hba1c", born(52), records=(diabetes, a1c(six))) == "open"
    assert status("diabetes_hba1c", born(52),
                  records=(diabetes, a1c(six + relativedelta(days=1)))) == "met"
    assert status("diabetes_hba1c", born(52), records=(a1c(six),)) == "not_applicable"
    resolved = Record("condition", SNOMED, "44054006", date(2019, 6, 25), "resolved")
    assert status("diabetes_hba1c", born(52), records=(resolved,)) == "not_applicable"
    prediabetes = Record("condition", SNOMED, "15777000", date(2019, 6, 25), "active")
    assert status("diabetes_hba1c", born(52), records=(prediabetes,)) == "not_applicable"


def test_medicare_annual_wellness_visit() -> None:
    medicare = frozenset({"medicare_advantage"})
    assert status("medicare_annual_wellness", born(70), plans=medicare) == "open"
    assert status("medicare_annual_wellness", born(70),
                  plans=frozenset({"commercial"})) == "not_applicable"
    awv = lambda months: Record("procedure", "HCPCS", "G0439",  # noqa: E731
                                TODAY - relativedelta(months=months))
    assert status("medicare_annual_wellness", born(70), records=(awv(11),),
                  plans=medicare) == "met"
    assert status("medicare_annual_wellness", born(70), records=(awv(12),),
                  plans=medicare) == "open"


def test_influenza_season_edges() -> None:
    dose = lambda on: Record("immunization", CVX, "140", on)  # noqa: E731
    adult = born(30)
    assert status("influenza_vaccine", adult, today=date(2026, 10, 1)) == "open"
    assert status("influenza_vaccine", adult, today=date(2026, 8, 31)) == "not_due_yet"
    assert status("influenza_vaccine", adult, today=date(2026, 9, 1)) == "open"
    assert status("influenza_vaccine", adult, records=(dose(date(2026, 8, 1)),),
                  today=date(2026, 10, 1)) == "met"
    assert status("influenza_vaccine", adult, records=(dose(date(2026, 7, 31)),),
                  today=date(2026, 10, 1)) == "open"  # last season's dose
    assert status("influenza_vaccine", adult, records=(dose(date(2026, 7, 31)),),
                  today=date(2027, 3, 31)) == "open"  # the season's last outreach day
    assert status("influenza_vaccine", adult, today=date(2027, 4, 1)) == "not_due_yet"
    six_months = TODAY - relativedelta(months=6)
    assert status("influenza_vaccine", six_months) == "open"
    assert status("influenza_vaccine", six_months + relativedelta(days=1)) == "not_applicable"


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "rule.yaml").write_text(text, encoding="utf-8")
    return tmp_path


GOOD = """
id: test_rule
title: A test rule
source: {citation: "Somebody, some guideline, 2025", url: "https://example.org/g"}
population: {age: {min_years: 18}}
lookback_months: 12
evidence:
  - name: a test
    interval_months: 12
    codes: {LOINC: ["1234-5"]}
"""


def test_rule_files_are_checked_against_the_schema(tmp_path: Path) -> None:
    assert [r.id for r in load_rules(_write(tmp_path, GOOD))] == ["test_rule"]
    with pytest.raises(RuleFileError, match="rule.yaml: .*source"):
        load_rules(_write(tmp_path, GOOD.replace('source: {citation: "Somebody, some '
                                                 'guideline, 2025", url: "https://example.org'
                                                 '/g"}\n', "")))
    with pytest.raises(RuleFileError, match="rule.yaml: evidence/0/codes"):
        load_rules(_write(tmp_path, GOOD.replace("LOINC", "ICD9")))
    with pytest.raises(RuleFileError, match="longer than the look-back"):
        load_rules(_write(tmp_path, GOOD.replace("interval_months: 12",
                                                 "interval_months: 24")))
    with pytest.raises(RuleFileError, match="rule.yaml: population/sex"):
        load_rules(_write(tmp_path, GOOD.replace("{age:", "{sex: [other], age:")))


def test_a_rule_is_plain_data() -> None:
    rule: Rule = RULES["diabetes_hba1c"]
    assert rule.lookback_months == 12 and rule.modalities[0].interval_months == 6
