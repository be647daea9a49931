from django.conf import settings
from django.db import models

from apps.core.models import TimeStampedModel


class SandboxUser(TimeStampedModel):
    """Marks a Django user as a sandbox-only identity: no password, never staff, only signs in to /sandbox/."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sandbox_identity")
    display_name = models.CharField(max_length=100)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name
