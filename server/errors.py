"""One error type for the whole API, rendered by one handler.

Raise ``ApiError`` (or a subclass) from a service or a view; the client gets
``{"error": {"code", "message", "details"}}`` with the matching HTTP status.
Domain code raises ``DomainError`` subclasses that know nothing of HTTP but
carry a stable code and the status that suits them.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A refused operation, with a stable machine-readable code."""

    code = "INVALID"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details or {}

    def to_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ApiError(DomainError):
    pass


class NotFound(DomainError):
    code = "NOT_FOUND"
    status = 404


class Conflict(DomainError):
    code = "CONFLICT"
    status = 409


class ValidationError(DomainError):
    code = "VALIDATION_ERROR"
    status = 422


class Unauthorized(DomainError):
    code = "UNAUTHORIZED"
    status = 401


class TooManyRequests(DomainError):
    code = "RATE_LIMITED"
    status = 429


class Forbidden(DomainError):
    code = "FORBIDDEN"
    status = 403


class Unavailable(DomainError):
    code = "SERVICE_UNAVAILABLE"
    status = 503


# (path prefix, renderer(status, code, message) -> response): pages that answer
# errors in HTML instead of JSON (the staff pages under /admin).
HTML_ERROR_PAGES: list[tuple[str, object]] = []


def _html_page(status: int, code: str, message: str):
    from flask import request

    for prefix, render in HTML_ERROR_PAGES:
        if request.path.startswith(prefix):
            return render(status, code, message)
    return None


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError):
        page = _html_page(exc.status, exc.code, exc.message)
        if page is not None:
            return page
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        page = _html_page(exc.code or 500, (exc.name or "HTTP_ERROR").upper().replace(" ", "_"),
                          exc.description or exc.name)
        if page is not None:
            for name, value in exc.get_headers():
                if name.lower() != "content-type":
                    page.headers[name] = value
            return page
        code = (exc.name or "HTTP_ERROR").upper().replace(" ", "_")
        body = {"error": {"code": code, "message": exc.description or exc.name, "details": {}}}
        response = jsonify(body)
        response.status_code = exc.code or 500
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        page = _html_page(500, "INTERNAL_ERROR", "服务器内部错误，请稍后再试")
        if page is not None:
            return page
        body = {"error": {"code": "INTERNAL_ERROR", "message": "服务器内部错误，请稍后再试",
                          "details": {}}}
        return jsonify(body), 500
