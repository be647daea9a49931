"""Housekeeping deletes shared by the apps that keep rows for a while and then drop them."""

from django.db.models import QuerySet


def delete_in_batches(queryset: QuerySet, *, batch_size: int) -> int:
    """Deletes by primary-key batches so no single statement holds a long lock on a busy table."""
    deleted = 0
    while batch := list(queryset.values_list("pk", flat=True)[:batch_size]):
        queryset.model.objects.filter(pk__in=batch).delete()
        deleted += len(batch)
    return deleted
