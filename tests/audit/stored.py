"""The audit table as the database stores it, for tests that look for a secret anywhere in the trail."""

from django.db import connection

from apps.audit.models import AuditEvent


def audit_table_text() -> str:
    """Every column of every audit row, as text read with SQL (the JSON as stored, not as Django decodes it)."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, actor, action, target_type, target_id, CAST(data AS TEXT), ip_address FROM {table}")
        return "\n".join(" ".join(str(value) for value in row) for row in cursor.fetchall())
