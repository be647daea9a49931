"""Every API failure is one JSON shape: {"error": {"code", "message", "details"}}.

All exception handlers live here and are registered on the one NinjaAPI, so a service raising a domain
exception never has to know which status code or body it becomes.
"""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError

from apps.connections.exceptions import ConnectError, SettingsInvalid

logger = logging.getLogger("apps.api")

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "provider_error",
}


class ApiError(HttpError):
    """An HttpError with a stable machine-readable code and optional details."""

    def __init__(self, status_code: int, message: str, *, code: str | None = None, details=None):
        super().__init__(status_code, message)
        self.code = code or STATUS_CODES.get(status_code, "error")
        self.details = details


class NotFound(ApiError):
    def __init__(self, what: str = "Resource"):
        super().__init__(404, f"{what} not found.", code="not_found")


def error_response(
    api: NinjaAPI, request: HttpRequest, *, status: int, code: str, message: str, details=None
) -> HttpResponse:
    body = {"error": {"code": code, "message": message, "details": details if details is not None else {}}}
    return api.create_response(request, body, status=status)


def _clean_ninja_errors(errors: list) -> list:
    cleaned = []
    for error in errors:
        item = {k: v for k, v in error.items() if k in {"type", "loc", "msg"}}
        item["loc"] = [str(p) for p in item.get("loc", [])]
        cleaned.append(item)
    return cleaned


def register_exception_handlers(api: NinjaAPI) -> None:
    def on_validation(request, exc: NinjaValidationError):
        return error_response(
            api,
            request,
            status=422,
            code="validation_error",
            message="The request is not valid.",
            details={"errors": _clean_ninja_errors(exc.errors)},
        )

    def on_authentication(request, exc: AuthenticationError):
        return error_response(
            api,
            request,
            status=401,
            code="unauthorized",
            message="Missing, unknown or revoked API key. Send 'Authorization: Bearer <api key>'.",
        )

    def on_throttled(request, exc: Throttled):
        wait = max(1, int(exc.wait or 1))
        response = error_response(
            api,
            request,
            status=429,
            code="rate_limited",
            message=f"Too many requests for this API key. Retry in {wait} seconds.",
            details={"retry_after": wait},
        )
        response["Retry-After"] = str(wait)
        return response

    def on_http_error(request, exc: HttpError):
        return error_response(
            api,
            request,
            status=exc.status_code,
            code=getattr(exc, "code", None) or STATUS_CODES.get(exc.status_code, "error"),
            message=str(exc.message),
            details=getattr(exc, "details", None),
        )

    def on_404(request, exc: Http404):
        return error_response(api, request, status=404, code="not_found", message="Not found.")

    def on_settings_invalid(request, exc: SettingsInvalid):
        return error_response(
            api,
            request,
            status=422,
            code=exc.code,
            message=exc.user_message,
            details={"settings": exc.errors},
        )

    def on_connect_error(request, exc: ConnectError):
        response = error_response(
            api,
            request,
            status=getattr(exc, "http_status", 400),
            code=exc.code,
            message=exc.user_message,
        )
        if getattr(exc, "retry_after", None):
            response["Retry-After"] = str(exc.retry_after)
        return response

    def on_too_big(request, exc: RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error_response(
            api,
            request,
            status=413,
            code="payload_too_large",
            message=f"The request body is larger than the {limit}-byte limit.",
        )

    def on_django_validation(request, exc: DjangoValidationError):
        if hasattr(exc, "error_dict"):
            details = {"fields": {field: [str(m) for m in msgs] for field, msgs in exc.message_dict.items()}}
            codes = {e.code for errors in exc.error_dict.values() for e in errors}
        else:
            details = {"errors": [str(m) for m in exc.messages]}
            codes = {getattr(e, "code", None) for e in exc.error_list}
        if "unique" in codes or "unique_together" in codes:
            return error_response(
                api, request, status=409, code="conflict", message="That already exists.", details=details
            )
        return error_response(
            api, request, status=422, code="validation_error", message="The request is not valid.", details=details
        )

    def on_integrity(request, exc: IntegrityError):
        logger.info("Integrity error on %s %s", request.method, request.path)
        return error_response(
            api, request, status=409, code="conflict", message="That conflicts with an existing object."
        )

    def on_data_error(request, exc: DataError):
        # e.g. a NUL character in a string, or a value too long for its column: the input's fault.
        logger.info("Data error on %s %s: %s", request.method, request.path, type(exc).__name__)
        return error_response(
            api,
            request,
            status=422,
            code="validation_error",
            message="A value in the request cannot be stored (too long, or it contains a NUL character).",
        )

    def on_unexpected(request, exc: Exception):
        logger.exception("Unhandled API error on %s %s", request.method, request.path)
        return error_response(
            api,
            request,
            status=500,
            code="internal_error",
            message="Something went wrong on our side. Please try again; if it keeps happening, contact support.",
        )

    api.add_exception_handler(NinjaValidationError, on_validation)
    api.add_exception_handler(AuthenticationError, on_authentication)
    api.add_exception_handler(Throttled, on_throttled)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_404)
    api.add_exception_handler(SettingsInvalid, on_settings_invalid)
    api.add_exception_handler(ConnectError, on_connect_error)
    api.add_exception_handler(DjangoValidationError, on_django_validation)
    api.add_exception_handler(IntegrityError, on_integrity)
    api.add_exception_handler(DataError, on_data_error)
    api.add_exception_handler(RequestDataTooBig, on_too_big)
    api.add_exception_handler(Exception, on_unexpected)
