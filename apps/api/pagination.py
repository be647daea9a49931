"""Opaque keyset cursors over (created_at, id), newest first.

A cursor is urlsafe base64 of "<created_at isoformat>|<id>" of the last row of the previous page. The next
page is `(created_at, id) < (T, I)` written as one row-value comparison: the database uses it as the
start of an index range scan on (application, created_at desc, id desc), so a page at row 500,000 reads
the same hundred index entries as the first page. (The equivalent `created_at < T OR (created_at = T
AND id < I)` is only a filter: the scan starts at the top and throws rows away.)
"""

import base64
import binascii
from datetime import datetime

from django.db.models import F, IntegerField, QuerySet, Subquery
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan

from apps.api.errors import InvalidCursor

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
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor() from exc
    if created_at.tzinfo is None or not pk:
        raise InvalidCursor()
    return created_at, pk


def keyset_page(queryset: QuerySet, *, cursor: str | None, limit: int) -> QuerySet:
    """The limit + 1 rows after the cursor (one extra tells whether a next page exists); shape the result
    (joins, annotations) freely, then split it with keyset_split. The queryset must be ordered by
    -created_at, -id.

    The page's primary keys are picked by a subquery that reads only the (application, created_at, id)
    index; the outer query then reads those rows in full. Asked for whole rows plus joins in one go,
    the planner can instead walk the global created_at index and filter by application, which costs
    300 ms when the newest rows belong to another, larger tenant.
    """
    if cursor:
        created_at, pk = decode_cursor(cursor)
        queryset = queryset.filter(TupleLessThan(Tuple(F("created_at"), F("id")), (created_at, pk)))
    return queryset.filter(pk__in=queryset.values("pk")[: limit + 1])


def keyset_split(rows: list, *, limit: int) -> tuple[list, str | None]:
    """(page rows, next_cursor) from what keyset_page returned."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].created_at, rows[-1].pk)


def paginate_keyset(queryset: QuerySet, *, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """Return (rows, next_cursor) of an unshaped queryset ordered by -created_at, -id."""
    return keyset_split(list(keyset_page(queryset, cursor=cursor, limit=limit)), limit=limit)


def offset_page(queryset: QuerySet, *, offset: int, limit: int) -> QuerySet:
    """The rows at [offset, offset + limit) of an ordered queryset, for the APIs that page by offset.

    The page's primary keys are picked first by a subquery that reads only the ordering index, then only
    those rows are read in full: skipping 500,000 index entries is far cheaper than skipping 500,000
    rows, though it still grows with the offset (use the native API's cursor to page deep).
    """
    return queryset.filter(pk__in=queryset.values("pk")[offset : offset + limit])


def capped_count(queryset: QuerySet, *, up_to: int) -> tuple[int, bool]:
    """(count, is_exact): the number of rows, counting no further than `up_to`."""
    return capped(_first_rows(queryset, up_to + 1).count(), up_to=up_to)


def _first_rows(queryset: QuerySet, count: int) -> QuerySet:
    """Any `count` of the rows, which is all a capped count needs: unordered, the database may read a
    narrower index than the list's ordering one (0.5 ms rather than 0.9 ms for 10,001 rows)."""
    return queryset.order_by().values("pk")[:count]


def capped(counted: int, *, up_to: int) -> tuple[int, bool]:
    """(count, is_exact) from a count that stopped at `up_to + 1` (capped_count, CappedCount)."""
    return min(counted, up_to), counted <= up_to


class CappedCount(Subquery):
    """The number of a queryset's rows, counting no further than `up_to + 1`, as a column of another query
    (read it with `capped`): a page query carries its list's count without a second statement. The
    subquery does not depend on the outer row, so PostgreSQL runs it once per statement."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) capped)"

    def __init__(self, queryset: QuerySet, *, up_to: int) -> None:
        super().__init__(_first_rows(queryset, up_to + 1), output_field=IntegerField())
