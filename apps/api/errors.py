"""Every API failure is one JSON shape, rendered from a PatchbayError in one handler:
{"error": {"code", "message", "details", "title", "resolution"}}.

Services raise PatchbayError subclasses; the framework's own failures (ninja's validation, authentication
and throttling, Django's 404, database integrity errors, anything unexpected) are first translated into
one (`as_patchbay_error`), so a service never has to know which status code or body its error becomes.
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

from apps.core.errors import Conflict, NotFound, PatchbayError, ValidationFailed, error_body, from_django_validation

logger = logging.getLogger("apps.api")


class Unauthorized(PatchbayError):
    code = "unauthorized"
    message = "Missing, unknown or revoked API key. Send 'Authorization: Bearer <api key>'."
    status = 401
    title = "Not signed in"
    resolution = "Send a live API key (or a customer token) as 'Authorization: Bearer <key>'."


class RateLimited(PatchbayError):
    code = "rate_limited"
    message = "Too many requests for this API key."
    status = 429
    title = "Too many requests"
    resolution = "Wait the number of seconds in Retry-After (also details.retry_after), then retry."


class PayloadTooLarge(PatchbayError):
    code = "payload_too_large"
    message = "The request body is too large."
    status = 413
    title = "Request too large"
    resolution = "Send a smaller body; the limit is in the message."


class InternalError(PatchbayError):
    code = "internal_error"
    message = "Something went wrong on our side. Please try again; if it keeps happening, contact support."
    status = 500
    title = "Something went wrong"
    resolution = "Try again; if it keeps happening, contact support with the time of the request."


class BadRequest(PatchbayError):
    code = "bad_request"
    message = "The request could not be read."
    status = 400
    title = "The request could not be read"
    resolution = "Send a well-formed body (JSON with Content-Type: application/json) and try again."


class InvalidCursor(PatchbayError):
    code = "invalid_cursor"
    message = "The cursor is not valid. Use next_cursor from a previous page."
    status = 400
    title = "Invalid page cursor"
    resolution = "Pass next_cursor exactly as a previous page returned it, or leave cursor out for the first page."


class UnknownProvider(PatchbayError):
    code = "unknown_provider"
    message = "Unknown provider."
    status = 422
    title = "Unknown provider"
    resolution = "Use a provider name from GET /api/v1/providers."

    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown provider {name!r}.")


def _clean_ninja_errors(errors: list[dict]) -> list[dict]:
    cleaned = []
    for error in errors:
        item = {k: v for k, v in error.items() if k in {"type", "loc", "msg"}}
        item["loc"] = [str(p) for p in item.get("loc", [])]
        cleaned.append(item)
    return cleaned


def as_patchbay_error(request: HttpRequest, exc: Exception) -> PatchbayError:
    """The domain error a failure is, for the caller; anything unforeseen is a logged internal_error."""
    match exc:
        case PatchbayError():
            return exc
        case NinjaValidationError():
            return ValidationFailed(details={"errors": _clean_ninja_errors(exc.errors)})
        case AuthenticationError():
            return Unauthorized()
        case Throttled():
            wait = max(1, int(exc.wait or 1))
            return RateLimited(
                f"Too many requests for this API key. Retry in {wait} seconds.",
                details={"retry_after": wait},
                retry_after=wait,
            )
        case HttpError(status_code=400):
            return BadRequest(f"The request could not be read: {exc.message}.")
        case Http404():
            return NotFound()
        case RequestDataTooBig():
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return PayloadTooLarge(f"The request body is larger than the {limit}-byte limit.")
        case DjangoValidationError():
            return from_django_validation(exc)
        case IntegrityError():
            logger.info("Integrity error on %s %s", request.method, request.path)
            return Conflict()
        case DataError():
            # e.g. a NUL character in a string, or a value too long for its column: the input's fault.
            logger.info("Data error on %s %s: %s", request.method, request.path, type(exc).__name__)
            return ValidationFailed(
                "A value in the request cannot be stored (too long, or it contains a NUL character)."
            )
    logger.exception("Unhandled API error on %s %s", request.method, request.path, exc_info=exc)
    return InternalError()


def error_response(api: NinjaAPI, request: HttpRequest, error: PatchbayError) -> HttpResponse:
    response = api.create_response(request, error_body(error), status=error.status)
    if error.retry_after:
        response["Retry-After"] = str(error.retry_after)
    return response


def register_exception_handlers(api: NinjaAPI) -> None:
    """One handler for every failure. It is registered for each class ninja has a default handler for
    (the most specific registered class wins), and for Exception."""

    def on_error(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error_response(api, request, as_patchbay_error(request, exc))

    for exception_class in (NinjaValidationError, HttpError, Http404, Exception):
        # ninja types a handler as also taking the exception class; it only ever passes the instance.
        api.add_exception_handler(exception_class, on_error)  # type: ignore[arg-type]
