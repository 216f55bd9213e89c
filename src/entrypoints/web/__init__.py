"""The bundled Flask portal: an app factory wiring blueprints, security headers and the error table to the core."""

from entrypoints.web.app import create_app

__all__ = ["create_app"]
