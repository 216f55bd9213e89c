"""Routes for load balancers and shared assets: health, readiness, and the brand stylesheet."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue

from entrypoints.web.app import portal_services
from portal_core.model.business import DEFAULT_BRAND_COLOR

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> ResponseReturnValue:
    with portal_services().uow() as uow:
        uow.business.get()
    return jsonify(status="ready")


@blueprint.get("/brand.css")
def brand_css() -> ResponseReturnValue:
    """The business's colour as a CSS variable: a stylesheet, because the CSP allows no inline style."""
    with portal_services().uow() as uow:
        business = uow.business.get()
    colour = business.brand_color if business else DEFAULT_BRAND_COLOR
    response = Response(f":root {{ --brand: {colour}; }}\n", mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
