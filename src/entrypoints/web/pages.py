"""The portal's pages: home and every section, read through the core's browsing use cases."""

from __future__ import annotations

from typing import Any

from flask import render_template
from flask.typing import ResponseReturnValue

from entrypoints.web.context import portal_blueprint, signed_in, viewer

blueprint = portal_blueprint("pages", __name__)

NAV_ITEMS = [("pages.home", "Home")]


@blueprint.context_processor
def _navigation() -> dict[str, Any]:
    return {"nav_items": NAV_ITEMS}


@blueprint.get("/")
@signed_in
def home() -> ResponseReturnValue:
    return render_template("pages/home.html", contact=viewer().contact)
