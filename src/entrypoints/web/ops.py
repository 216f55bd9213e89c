"""Routes for load balancers and shared assets: health, readiness, and the brand stylesheet."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue

from entrypoints.web.services import portal_services
from portal_core.branding import brand_color
from portal_core.readiness import check_readiness

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> ResponseReturnValue:
    """200 only when the database answers and is migrated to this code's schema; 503 otherwise."""
    readiness = check_readiness(portal_services().schema_status)
    response = jsonify(status="ready" if readiness.ready else "not ready", reason=readiness.reason)
    response.status_code = 200 if readiness.ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/brand.css")
def brand_css() -> ResponseReturnValue:
    """The business's colour as a CSS variable: a stylesheet, because the CSP allows no inline style."""
    colour = brand_color(portal_services().reader())
    response = Response(f":root {{ --brand: {colour}; }}\n", mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
