"""The one domain error type. Every failure a person or a calling application can cause is a PatchbayError
subclass that names its code, message, HTTP status, page title and suggested resolution once; the API's
JSON errors (`apps/api/errors.py`) and the connect error page (`apps/connect/views.py::error_page`) both
render from it, so a code reads the same on every surface.

A subclass that sets `code` is a concrete error and must set all five itself (nothing is inherited, so a
missing title cannot hide behind a default); a subclass without `code` only groups errors (ConnectError).
Codes are public API: once shipped, a code never changes its name.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model

REQUIRED_ATTRIBUTES = ("code", "message", "status", "title", "resolution")

_REGISTRY: dict[str, type["PatchbayError"]] = {}


class PatchbayError(Exception):
    code: ClassVar[str]
    message: str  # what happened, safe to show: never a token, a secret or a stack trace
    status: ClassVar[int]  # the HTTP status either surface answers with
    title: ClassVar[str]  # the heading of the error page
    resolution: ClassVar[str]  # what the person or the calling application should do next

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            return
        missing = [name for name in REQUIRED_ATTRIBUTES if not cls.__dict__.get(name)]
        if missing:
            raise TypeError(f"{cls.__qualname__} must set {', '.join(missing)} itself")
        if cls.code in _REGISTRY:
            raise TypeError(f"error code {cls.code!r} of {cls.__qualname__} is {_REGISTRY[cls.code].__qualname__}'s")
        _REGISTRY[cls.code] = cls

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
        retry_after: int | None = None,
        internal_detail: str = "",
    ) -> None:
        if "code" not in type(self).__dict__:
            raise TypeError(f"{type(self).__qualname__} groups errors; raise one of its concrete subclasses")
        self.message = message or type(self).message
        self.details: dict[str, Any] = dict(details or {})  # machine-readable specifics, shown to API callers
        self.retry_after = retry_after  # seconds after which trying again can succeed (Retry-After)
        self.internal_detail = internal_detail  # for logs and tracebacks only, never rendered
        super().__init__(self.message)

    def __str__(self) -> str:
        suffix = f" ({self.internal_detail})" if self.internal_detail else ""
        return f"{self.code}: {self.message}{suffix}"


def error_classes() -> list[type[PatchbayError]]:
    """Every concrete error defined so far (by the modules imported), ordered by code."""
    return [_REGISTRY[code] for code in sorted(_REGISTRY)]


def error_body(error: PatchbayError) -> dict[str, Any]:
    """The JSON every machine-facing surface answers with (the API, the widget's requests)."""
    return {
        "error": {
            "code": error.code,
            "message": error.message,
            "details": error.details,
            "title": error.title,
            "resolution": error.resolution,
        }
    }


# --- codes any layer raises -----------------------------------------------------------------------------


class ValidationFailed(PatchbayError):
    code = "validation_error"
    message = "The request is not valid."
    status = 422
    title = "Some details are not valid"
    resolution = "Correct the values named in the message (or in details) and send the request again."

    @classmethod
    def from_messages(cls, *messages: str) -> "ValidationFailed":
        """One or more problems that belong to no single field: the first is the message, all are details."""
        return cls(messages[0], details={"errors": list(messages)})

    @classmethod
    def from_fields(cls, fields: Mapping[str, list[str]], *, message: str | None = None) -> "ValidationFailed":
        """Problems per field name, rendered as details.fields like a form's errors."""
        return cls(message, details={"fields": {name: list(problems) for name, problems in fields.items()}})


class NotFound(PatchbayError):
    code = "not_found"
    message = "Not found."
    status = 404
    title = "Not found"
    resolution = "Check the id or path; objects of another application answer as if they did not exist."


class Forbidden(PatchbayError):
    code = "forbidden"
    message = "This credential may not do that."
    status = 403
    title = "Not allowed"
    resolution = "Call this with a credential that may do it (an API key from your backend, not a customer token)."


class Conflict(PatchbayError):
    code = "conflict"
    message = "That conflicts with an existing object."
    status = 409
    title = "That already exists"
    resolution = "Read the existing object and update it, or choose another identifier."


def from_django_validation(exc: DjangoValidationError) -> ValidationFailed | Conflict:
    """Django's ValidationError (a model's full_clean, a form field) as the domain error it means: per-field
    messages in details.fields (or details.errors), and a broken unique constraint is a conflict."""
    details: dict[str, Any]
    if hasattr(exc, "error_dict"):
        details = {"fields": {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}}
        codes = {error.code for errors in exc.error_dict.values() for error in errors}
    else:
        details = {"errors": [str(m) for m in exc.messages]}
        codes = {getattr(error, "code", None) for error in exc.error_list}
    if codes & {"unique", "unique_together"}:
        return Conflict("That already exists.", details=details)
    return ValidationFailed(details=details)


def full_clean(instance: Model, *, exclude: list[str] | None = None) -> None:
    """`instance.full_clean()` for services: its failures leave as ValidationFailed or Conflict."""
    try:
        instance.full_clean(exclude=exclude)
    except DjangoValidationError as exc:
        raise from_django_validation(exc) from exc
