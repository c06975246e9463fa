"""flask-smorest's Api, answering and documenting errors as application/problem+json (TRAPS.md)."""

from __future__ import annotations

import http

import flask_smorest
import marshmallow as ma
from flask_smorest import Api
from flask_smorest.utils import prepare_response

PROBLEM_MIMETYPE = "application/problem+json"


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details (documentation only; backend.errors builds the bodies).

    Problems may carry extension members (RFC 9457 §3.2) that docs/API.md names per problem:
    `retry_after`, `attempt_id`, `missing`, `locked_reason`, `offset`, …"""

    class Meta:
        unknown = ma.INCLUDE  # documented as additionalProperties: extension members are allowed

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    errors = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()),
        metadata={"description": "field → messages, for 422"},
    )
    retry_after = ma.fields.Integer(metadata={"description": "for 429: seconds until a retry may succeed "
                                                             "(as the Retry-After header)"})


class ProblemApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self):
        """backend.errors registers the handlers; flask-smorest's own would answer {code, message}."""

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


class Blueprint(flask_smorest.Blueprint):
    def problem(self, status: int, description: str):
        """Document an error answer of this route as problem+json."""
        return self.alt_response(status, schema=ProblemSchema, description=description,
                                 content_type=PROBLEM_MIMETYPE)

    def csv_export(self):
        """Document that this list also answers as CSV (?format=csv or Accept: text/csv)."""
        # A schema is needed for the content type to appear in the document at all.
        return self.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True,
                                 description="The same list as CSV (UTF-8 with BOM), for ?format=csv "
                                             "or Accept: text/csv")


def document_error_refs(view, *statuses: int) -> None:
    """Add shared error responses (e.g. 401, 403) to a view's OpenAPI operation."""
    names = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT"}
    responses = view.__dict__.setdefault("_apidoc", {}).setdefault("response", {}).setdefault("responses", {})
    for status in statuses:
        responses.setdefault(status, []).append(names[status])
