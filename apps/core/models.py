from django.db import models

from apps.core.ids import PrefixedId


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def prefixed_id_field(prefix: str) -> models.CharField:
    return models.CharField("ID", primary_key=True, max_length=40, default=PrefixedId(prefix), editable=False)
