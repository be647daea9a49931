"""Opaque keyset cursors over (created_at, id), newest first.

A cursor is urlsafe base64 of "<created_at isoformat>|<id>" of the last row of the previous page. Keyset
pagination keeps every page one indexed range scan (conn_app_created), however deep the client goes.
"""

import base64
import binascii
from datetime import datetime

from django.db.models import Q, QuerySet

from apps.api.errors import ApiError

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


def encode_cursor(created_at: datetime, pk: str) -> str:
    raw = f"{created_at.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, pk = base64.urlsafe_b64decode(padded.encode()).decode().split("|", 1)
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None or not pk:
            raise ValueError("incomplete cursor")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApiError(
            400, "The cursor is not valid. Use next_cursor from a previous page.", code="invalid_cursor"
        ) from exc
    return created_at, pk


def paginate_keyset(queryset: QuerySet, *, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """Return (rows, next_cursor). The queryset must be ordered by -created_at, -id."""
    if cursor:
        created_at, pk = decode_cursor(cursor)
        queryset = queryset.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    rows = list(queryset[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].pk)
    return rows, next_cursor
