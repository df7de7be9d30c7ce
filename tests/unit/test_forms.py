"""The data-entry forms' checks (pure: no Qt, no vault)."""

from __future__ import annotations

from datetime import date

from app.forms import coverage_errors, patient_errors

TODAY = date(2027, 1, 4)


def test_patient_form_rules() -> None:
    good = {"first_name": "Ann", "last_name": "Lee", "dob": "1980-02-01",
            "phone": "(555) 010-0199", "email": "ann@example.org"}
    assert patient_errors(good, TODAY) == {}
    assert set(patient_errors({}, TODAY)) == {"first_name", "last_name", "dob"}
    assert patient_errors({**good, "dob": "02/01/1980"}, TODAY)["dob"].endswith("YYYY-MM-DD")
    assert "future" in patient_errors({**good, "dob": "2027-01-05"}, TODAY)["dob"]
    assert "130" in patient_errors({**good, "dob": "1890-01-01"}, TODAY)["dob"]
    assert set(patient_errors({**good, "phone": "call me", "email": "ann@"}, TODAY)) == {
        "phone", "email"}


def test_coverage_form_rules() -> None:
    assert coverage_errors({}) == {}  # no payer: the block is not saved
    base = {"payer": "Acme Health", "member_id": "M1"}
    assert coverage_errors(base) == {}
    assert set(coverage_errors({**base, "member_id": " "})) == {"member_id"}
    assert set(coverage_errors({**base, "subscriber_relationship": "spouse"})) == {
        "subscriber_name"}
    assert coverage_errors({**base, "effective_date": "2027-02-01",
                            "termination_date": "2027-01-01"}) == {
        "termination_date": "the coverage ends before it starts"}


def test_appointment_payer_and_amount_rules() -> None:
    from app.forms import amount_errors, appointment_errors, payer_errors
    assert appointment_errors({"start": "2027-01-04 09:00", "visit_type": "office_visit"}) == {}
    assert set(appointment_errors({"start": "9am", "visit_type": "office visit"})) == {
        "start", "visit_type"}
    assert payer_errors({"name": "Acme"}, {"acme"}) == {"name": "a payer with this name exists"}
    assert payer_errors({"name": "", "decision_days_standard": "x"}) == {
        "name": "the payer's name is required",
        "decision_days_standard": "a whole number of days (hours for expedited), 1 to 3650"}
    assert payer_errors({"decision_days_standard": "15"}) == {}
    assert amount_errors("$1,092.5") == "" and amount_errors("ninety") != ""


def test_practice_npi_and_password_rules() -> None:
    from app.forms import npi_valid, password_feedback, practice_errors
    assert npi_valid("1234567893")  # the CMS example NPI
    assert not npi_valid("1234567890") and not npi_valid("12345")
    good = {"name": "Maple Street Family Practice", "timezone": "America/Chicago",
            "npi": "1234567893", "tin": "12-3456789", "phone": "(312) 555-0100"}
    assert practice_errors(good) == {}
    assert set(practice_errors({**good, "timezone": "Central", "npi": "1234567890",
                                "tin": "12-345"})) == {"timezone", "npi", "tin"}
    assert password_feedback("short", "ann")[0] == "weak"
    assert "must not contain the user name" in password_feedback("ann-is-great-1", "ann")[1]
    assert password_feedback("Password1")[1] == ["too common or repetitive"]
    assert password_feedback("maple-street-owner-pass")[0] == "strong"
    assert password_feedback("Tr0ub4dor&3x")[0] == "strong"
    assert password_feedback("plainwords1")[0] == "weak"


def test_patient_time_zone_rule() -> None:
    from app.forms import timezone_error, timezone_names
    assert timezone_error("") == "" and timezone_error("  ") == ""  # the practice's zone
    assert timezone_error("America/Chicago") == ""
    assert timezone_error("US/Eastern") == ""  # an alias is accepted when typed
    for bad in ("Mars/Base", "America/Chicgo", "../../etc/passwd", "EST5EDT/x"):
        assert "America/Chicago" in timezone_error(bad), bad
    names = timezone_names()
    assert "America/Phoenix" in names and "Pacific/Honolulu" in names
    assert names == sorted(names) and not any(n.startswith(("Etc/", "posix/", "US/"))
                                              for n in names)


def test_subscriber_birth_date_is_a_real_past_date() -> None:
    base = {"payer": "Acme", "member_id": "M1", "subscriber_relationship": "spouse",
            "subscriber_name": "Obi Test"}
    assert coverage_errors({**base, "subscriber_dob": "1959-02-30"}) == {
        "subscriber_dob": "YYYY-MM-DD"}
    assert "future" in coverage_errors({**base, "subscriber_dob": "2999-01-01"})[
        "subscriber_dob"]
    assert coverage_errors({**base, "subscriber_dob": "1959-02-28"}) == {}
    assert coverage_errors(base) == {}  # optional
