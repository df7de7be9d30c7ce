"""Link a payer to a portal recipe given by name or as a file, for every face (the CLI's
`payer set --recipe` and `portal recipe`, Settings -> Portals, the first-run wizard). A file
is parsed and checked here, then stored in the practice's recipes folder by the service,
so a bad file never enters the recipe book (which loads all or nothing)."""

from __future__ import annotations

from pathlib import Path

from app.domain import Payer
from app.identity import Session
from app.services import portal_credentials, practice
from automations.portal.recipes import load_recipes, read_recipe_file, recipe_dirs


def set_payer_recipe(session: Session, payer: str | int, recipe: str,
                     recipes_folder: str | None = None) -> Payer:
    """`recipe` is an installed recipe's name, a path to a .yaml file, or 'none'. Setting a
    recipe never turns the portal on: checks start only after it is tested and enabled."""
    if recipe == "none":
        return portal_credentials.set_recipe(session, payer, None)
    path = Path(recipe)
    if path.suffix in (".yaml", ".yml") or path.exists():
        # RecipeInvalid names the file, line and key; the text checked is the text stored
        parsed, text = read_recipe_file(path)
        portal_credentials.install_recipe(session, parsed.name, text)
        name = parsed.name
    else:
        folder = recipes_folder or practice.get_setting(session, "recipes_dir") or None
        load_recipes(recipe_dirs(folder)).get(recipe)  # NotFound lists the installed ones
        name = recipe
    return portal_credentials.set_recipe(session, payer, name)
