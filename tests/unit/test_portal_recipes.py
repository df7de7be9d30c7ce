"""Recipe loading and validation: built-ins are valid, errors name the file and key, the
practice folder overrides built-ins through the same loader."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from automations.portal import (
    KIND_STATUSES,
    PA_STATUSES,
    RecipeInvalid,
    builtin_recipes_dir,
    load_recipe_file,
    load_recipes,
    recipe_dirs,
)
from automations.portal.engine import infer_year


def builtin(name: str) -> dict:  # type: ignore[type-arg]
    data = yaml.safe_load((builtin_recipes_dir() / f"{name}.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def write(folder: Path, name: str, data: object) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_builtin_recipes_cover_the_demo_payers_and_kinds() -> None:
    book = load_recipes()
    assert book.names() == ["bluestem_medicaid", "clearinghouse_harbor",
                            "clearinghouse_summit", "northwind"]
    kinds = {k for n in book.names() for k in book.get(n).kinds}
    assert kinds == {"pa_status", "eligibility", "claim_status"}
    assert book.get("northwind").needs_totp and not book.get("bluestem_medicaid").needs_totp
    for name in book.names():
        recipe = book.get(name)
        mapped = {r.status for r in recipe.kinds["pa_status"].status_map}
        assert mapped == set(PA_STATUSES), name  # every normalized status has words


@pytest.mark.parametrize("recipe, words, status", [
    ("northwind", "Pended for clinical review", "pending"),
    ("northwind", "Pended – additional information needed", "info_requested"),
    ("northwind", "Approved – 12 units through 03/31", "approved"),
    ("northwind", "Approved in part – 6 of 12 units through 03/31", "partially_approved"),
    ("northwind", "Denied – not medically necessary", "denied"),
    ("bluestem_medicaid", "APPROVED - MODIFIED", "partially_approved"),
    ("bluestem_medicaid", "RFI ISSUED - AWAITING PROVIDER RESPONSE",
     "info_requested"),
    ("clearinghouse_summit", "Not certified – not medically necessary", "denied"),
    ("clearinghouse_harbor", "Certified – 8 units through 03/31/2027", "approved"),
    ("northwind", "Something new the payer invented", None),
])
def test_status_words_map_to_normalized_statuses(recipe: str, words: str,
                                                 status: str | None) -> None:
    assert load_recipes().get(recipe).normalize("pa_status", words) == status


@pytest.mark.parametrize("mutate, key, problem", [
    (lambda d: d.pop("portal"), "portal", "must be a mapping"),
    (lambda d: d["portal"].update(url="ftp://x"), "portal.url", "http"),
    (lambda d: d.update(colour="blue"), "colour", "unknown key"),
    (lambda d: d["login"].append({"fill": {"selector": "#x", "value": "{shoe_size}"}}),
     "login[7].fill.value", "unknown placeholder {shoe_size}"),
    (lambda d: d["login"].append({"click": "#a", "fill": {"selector": "#b", "value": "x"}}),
     "login[7]", "exactly one of"),
    (lambda d: d["kinds"].pop("pa_status"), "kinds.pa_status", "is required"),
    (lambda d: d["kinds"]["pa_status"]["status"]["map"].append(
        {"match": "^Maybe", "status": "maybe"}), "kinds.pa_status.status.map[8].status",
     "not a normalized pa_status status"),
    (lambda d: d["kinds"]["pa_status"]["status"]["map"].append(
        {"match": "([", "status": "pended"}), "kinds.pa_status.status.map[8].match",
     "invalid regular expression"),
    (lambda d: d["kinds"]["pa_status"].update(sentinels=[]), "kinds.pa_status.sentinels",
     "at least one sentinel"),
    (lambda d: d["kinds"]["pa_status"]["units"].update(field="nope"),
     "kinds.pa_status.units.field", "names no extracted field"),
    (lambda d: d["kinds"]["pa_status"]["units"].update(regex="\\d+"),
     "kinds.pa_status.units.regex", "capture group"),
    (lambda d: d["kinds"].update(prescriptions={}), "kinds.prescriptions", "unknown kind"),
    (lambda d: d["portal"].update(timeout_seconds=-1), "portal.timeout_seconds", "positive"),
    (lambda d: d.update(name="other"), "name", "must match the file name"),
])
def test_invalid_recipes_name_the_file_and_key(tmp_path: Path, mutate, key: str,  # type: ignore[no-untyped-def]
                                               problem: str) -> None:
    data = builtin("northwind")
    mutate(data)
    path = write(tmp_path, "northwind", data)
    with pytest.raises(RecipeInvalid) as caught:
        load_recipe_file(path)
    assert caught.value.source == str(path)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(path) in str(caught.value) and key in str(caught.value)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nportal: {url: [\n", encoding="utf-8")
    with pytest.raises(RecipeInvalid, match=r"bad.yaml: line \d+, column \d+: not valid YAML"):
        load_recipe_file(path)


def test_practice_folder_overrides_builtins_and_adds_payers(tmp_path: Path) -> None:
    data = builtin("bluestem_medicaid")
    data["payer"] = "Bluestem, practice edition"
    write(tmp_path, "bluestem_medicaid", data)
    extra = builtin("northwind")
    extra["name"] = "acme_health"
    write(tmp_path, "acme_health", extra)
    book = load_recipes(recipe_dirs(tmp_path))
    assert book.get("bluestem_medicaid").payer == "Bluestem, practice edition"
    assert book.get("bluestem_medicaid").source == str(tmp_path / "bluestem_medicaid.yaml")
    assert "acme_health" in book and len(book) == 5
    assert book.get("northwind").source.startswith(str(builtin_recipes_dir()))


def test_one_bad_practice_recipe_fails_the_whole_load(tmp_path: Path) -> None:
    write(tmp_path, "zz_bad", {"name": "zz_bad"})
    with pytest.raises(RecipeInvalid, match="zz_bad.yaml: portal: must be a mapping"):
        load_recipes(recipe_dirs(tmp_path))


def test_missing_recipes_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecipeInvalid, match="recipes folder does not exist"):
        load_recipes(recipe_dirs(tmp_path / "nope"))


@pytest.mark.parametrize("shown, today, expected", [
    (date(2000, 3, 31), date(2026, 11, 24), date(2027, 3, 31)),
    (date(2000, 12, 15), date(2026, 11, 24), date(2026, 12, 15)),
    (date(2000, 10, 1), date(2026, 11, 24), date(2026, 10, 1)),   # recently lapsed
    (date(2000, 1, 10), date(2026, 2, 1), date(2026, 1, 10)),
    (date(2000, 2, 29), date(2026, 11, 24), date(2028, 2, 29)),
])
def test_dates_without_a_year(shown: date, today: date, expected: date) -> None:
    assert infer_year(shown, today) == expected


def test_kind_statuses_are_declared_once() -> None:
    assert KIND_STATUSES["pa_status"] == PA_STATUSES
    assert set(KIND_STATUSES) == {"pa_status", "eligibility", "claim_status"}


def test_a_recipe_file_is_capped_and_must_be_utf8(tmp_path: Path) -> None:
    """A recipe may come from anyone: a huge file is refused before YAML reads it, and a
    file that is not UTF-8 is a RecipeInvalid naming it, not a traceback."""
    from automations.portal.recipes import MAX_RECIPE_BYTES
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_RECIPE_BYTES + 1))
    with pytest.raises(RecipeInvalid, match="at most"):
        load_recipe_file(big)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(RecipeInvalid, match="not UTF-8"):
        load_recipe_file(latin)
