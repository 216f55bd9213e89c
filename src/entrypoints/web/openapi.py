"""The API's OpenAPI 3.1 document, generated from the code: each operation is declared once, where its view is
(api.operation), and the request bodies' schemas are derived from the seed format's attrs classes
(portal_core.seed), the same classes that validate those bodies. Nothing here is a hand-kept copy."""

from __future__ import annotations

import types
import typing
from typing import Any

import attrs

ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error"], "additionalProperties": False,
    "properties": {"error": {
        "type": "object", "required": ["code", "message", "field"], "additionalProperties": False,
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "field": {"type": ["string", "null"], "description": "JSON path of the offending key"}}}},
}
ERROR_TEXT = {400: "Malformed JSON or form", 401: "No API key, or a wrong or revoked one", 404: "No such record",
              409: "The change clashes with a stored record", 413: "The body is too large",
              422: "A value the rules refuse (the seed format's own message; `field` names the key)",
              429: "Too many calls a minute with this key (see Retry-After)"}


@attrs.frozen(kw_only=True)
class Operation:
    method: str
    path: str  # OpenAPI form: /companies/{ref}
    operation_id: str
    summary: str
    status: int  # the success status
    response: dict[str, Any] | None  # its JSON schema; None for 204
    body: type | None = None  # an attrs class: the JSON body is that record
    body_without: tuple[str, ...] = ()  # fields the path carries instead
    multipart: dict[str, Any] | None = None
    also: tuple[int, ...] = ()  # more success statuses with the same body (201 created, 200 updated)
    errors: tuple[int, ...] = (401, 429)
    query: tuple[tuple[str, str], ...] = ()  # (name, description)
    public: bool = False  # readable without a key


def _schema_of(kind: Any, components: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(kind)
    if kind is str:
        return {"type": "string"}
    if kind is bool:
        return {"type": "boolean"}
    if kind is int:
        return {"type": "integer"}
    if origin is list:
        return {"type": "array", "items": _schema_of(typing.get_args(kind)[0], components)}
    if origin in (typing.Union, types.UnionType):
        options = [_schema_of(arg, components) for arg in typing.get_args(kind) if arg is not type(None)]
        nullable = type(None) in typing.get_args(kind)
        if len(options) == 1 and "type" in options[0] and nullable:
            return {**options[0], "type": [options[0]["type"], "null"]}
        return {"oneOf": options + ([{"type": "null"}] if nullable else [])}
    if attrs.has(kind):
        components.setdefault(kind.__name__, None)  # reserved first: a class that refers to itself terminates
        if components[kind.__name__] is None:
            components[kind.__name__] = record_schema(kind, components)
        return {"$ref": f"#/components/schemas/{kind.__name__}"}
    raise TypeError(f"no JSON schema for {kind!r}")  # pragma: no cover - a new field type needs a line above


def record_schema(cls: type, components: dict[str, Any], without: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON schema of an attrs class: its fields, their types, required when they have no default, nothing
    else allowed (the seed refuses unknown keys)."""
    hints = typing.get_type_hints(cls)
    fields = [f for f in attrs.fields(cls) if f.name not in without]
    return {"type": "object", "additionalProperties": False,
            "properties": {f.name: _schema_of(hints[f.name], components) for f in fields},
            "required": [f.name for f in fields if f.default is attrs.NOTHING]}


def document(operations: list[Operation], *, version: str) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        item: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "responses": {}}
        parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                      for name in _path_names(op.path)]
        parameters += [{"name": name, "in": "query", "required": False, "description": text,
                        "schema": {"type": "string"}} for name, text in op.query]
        if parameters:
            item["parameters"] = parameters
        if op.body is not None:
            item["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": record_schema(op.body, components, op.body_without)}}}
        elif op.multipart is not None:
            item["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": op.multipart}}}
        for status in (op.status, *op.also):
            response: dict[str, Any] = {"description": "OK" if status < 300 else "Done"}
            if op.response is not None:
                response["content"] = {"application/json": {"schema": op.response}}
            item["responses"][str(status)] = response
        errors = () if op.public else op.errors
        errors += (400,) if (op.body is not None or op.multipart is not None) and 400 not in errors else ()
        for status in errors:
            item["responses"][str(status)] = _error_response(status)
        if op.public:
            item["security"] = []
        paths.setdefault(op.path, {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "Client portal API", "version": version,
                 "description": "The business-side API: a CRM writes its records by its own refs and reads back "
                                "what clients did. See docs/api.md."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                                      "description": "a key from `portal api-key create NAME`"}}},
    }


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": ERROR_TEXT[status], "content": {"application/json": {"schema": ERROR}}}
    if status == 429:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}
    return response


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


# ---- the response bodies' schemas (the request bodies' are derived from the seed's attrs classes above) ----------

COMPANY = {"type": "object", "required": ["ref", "name", "portal_enabled"],
           "properties": {"ref": {"type": ["string", "null"]}, "name": {"type": "string"},
                          "portal_enabled": {"type": "boolean"}}}
LINK = {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}}


def page_of(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["data", "next_cursor"],
            "properties": {"data": {"type": "array", "items": items},
                           "next_cursor": {"type": ["string", "null"]}}}

SENT = {"type": "object", "required": ["ref", "number", "status", "changed", "notified", "not_delivered"],
        "properties": {"ref": {"type": "string"}, "number": {"type": "string"}, "status": {"type": "string"},
                       "changed": {"type": "boolean"}, "notified": {"type": "integer"},
                       "not_delivered": {"type": "integer"}}}

REQUEST = {"type": "object",
           "required": ["id", "company", "title", "details", "status", "created_at", "submitted_by"],
           "properties": {"id": {"type": "string"}, "company": {"type": ["string", "null"]},
                          "title": {"type": "string"}, "details": {"type": "string"}, "status": {"type": "string"},
                          "created_at": {"type": "string", "format": "date-time"},
                          "submitted_by": {"type": ["string", "null"]}}}
PAYMENT = {"type": "object",
           "required": ["invoice", "number", "amount", "currency", "provider", "provider_reference", "paid_at"],
           "properties": {"invoice": {"type": ["string", "null"]}, "number": {"type": "string"},
                          "amount": {"type": "string"}, "currency": {"type": "string"},
                          "provider": {"type": "string"}, "provider_reference": {"type": ["string", "null"]},
                          "paid_at": {"type": "string", "format": "date-time"}}}
