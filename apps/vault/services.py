"""Key rotation: re-encrypt every vault value under the newest key, in batches, resumably."""

from collections.abc import Iterator
from dataclasses import dataclass

from django.apps import apps
from django.db import models, transaction

from apps.vault import crypto
from apps.vault.fields import Ciphertext, EncryptedJSONField, aad_for
from apps.vault.keyring import Keyring, get_keyring


@dataclass(frozen=True)
class EncryptedColumn:
    model: type[models.Model]
    field: EncryptedJSONField

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.field.name}"


def encrypted_columns() -> list[EncryptedColumn]:
    return [
        EncryptedColumn(model=model, field=field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedJSONField)
    ]


def _stale_rows(column: EncryptedColumn, keyring: Keyring) -> models.QuerySet:
    current_prefix = f"{crypto.PREFIX}:{keyring.primary_id}:"
    return (
        column.model._base_manager.exclude(**{f"{column.field.attname}__isnull": True})
        .exclude(**{f"{column.field.attname}__startswith": current_prefix})
        .order_by("pk")
    )


@dataclass(frozen=True)
class EmbeddedSecrets:
    """Vault ciphertexts another app keeps inside its own JSON column (allauth's TOTP secret, say)."""

    model: type[models.Model]
    json_field: str
    keys: tuple[str, ...]
    aad: bytes

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.json_field}"

    def stale_rows(self, keyring: Keyring) -> list[models.Model]:
        current_prefix = f"{crypto.PREFIX}:{keyring.primary_id}:"
        return [
            row
            for row in self.model._base_manager.order_by("pk")
            if any(
                isinstance(value, str)
                and value.startswith(crypto.PREFIX + ":")
                and not value.startswith(current_prefix)
                for value in (getattr(row, self.json_field).get(key) for key in self.keys)
            )
        ]


_embedded: list[EmbeddedSecrets] = []


def register_embedded_secrets(embedded: EmbeddedSecrets) -> None:
    if embedded not in _embedded:
        _embedded.append(embedded)


def embedded_secret_sets() -> list[EmbeddedSecrets]:
    return list(_embedded)


@transaction.atomic
def vault_rotate_embedded(*, embedded: EmbeddedSecrets, keyring: Keyring | None = None) -> int:
    keyring = keyring or get_keyring()
    rows = embedded.stale_rows(keyring)
    for row in rows:
        data = dict(getattr(row, embedded.json_field))
        for key in embedded.keys:
            value = data.get(key)
            if isinstance(value, str) and value.startswith(crypto.PREFIX + ":"):
                plaintext = crypto.decrypt(value, aad=embedded.aad, keyring=keyring)
                data[key] = crypto.encrypt(plaintext, aad=embedded.aad, keyring=keyring)
        embedded.model._base_manager.filter(pk=row.pk).update(**{embedded.json_field: data})
    return len(rows)


def vault_count_stale(*, keyring: Keyring | None = None) -> dict[str, int]:
    keyring = keyring or get_keyring()
    counts = {column.label: _stale_rows(column, keyring).count() for column in encrypted_columns()}
    counts.update({embedded.label: len(embedded.stale_rows(keyring)) for embedded in embedded_secret_sets()})
    return counts


def vault_rotate_column(
    *, column: EncryptedColumn, batch_size: int = 500, keyring: Keyring | None = None
) -> Iterator[int]:
    """Yield the number of rows re-encrypted per batch. Safe to stop and rerun: done rows are skipped."""
    keyring = keyring or get_keyring()
    attname = column.field.attname
    last_pk = None
    while True:
        rows = _stale_rows(column, keyring)
        if last_pk is not None:
            rows = rows.filter(pk__gt=last_pk)
        batch = list(rows.values_list("pk", attname)[:batch_size])
        if not batch:
            return
        with transaction.atomic():
            for pk, token in batch:
                aad = aad_for(column.model, pk, column.field.name)
                plaintext = crypto.decrypt(token, aad=aad, keyring=keyring)
                fresh = Ciphertext(crypto.encrypt(plaintext, aad=aad, keyring=keyring))
                # Compare-and-swap on the old ciphertext so a concurrent write is never overwritten.
                column.model._base_manager.filter(pk=pk, **{attname: token}).update(**{attname: fresh})
        last_pk = batch[-1][0]
        yield len(batch)
