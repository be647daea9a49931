"""EncryptedJSONField: a JSON value stored as an AES-GCM ciphertext bound to its table, row and field.

The column holds the ciphertext. Reading the attribute decrypts on first access; assigning a value
keeps the plaintext in memory until save, when it is encrypted with the row's primary key in the AAD
(our primary keys are generated in Python, so they are known before the first INSERT).
"""

from typing import Any

from django.db import models

from apps.vault import crypto


class Ciphertext(str):
    """A value as stored in the column; never decrypted until the attribute is read."""


class _Unset:
    pass


UNSET = _Unset()


def aad_for(model: type[models.Model], pk, field_name: str) -> bytes:
    return f"{model._meta.db_table}:{pk}:{field_name}".encode()


class EncryptedJSONDescriptor:
    def __init__(self, field: "EncryptedJSONField"):
        self.field = field
        self.cache_name = f"_{field.name}_plaintext"

    def __get__(self, instance, owner):
        if instance is None:
            return self
        cached = instance.__dict__.get(self.cache_name, UNSET)
        if cached is not UNSET:
            return cached
        if self.field.attname not in instance.__dict__:
            instance.refresh_from_db(fields=[self.field.attname])
            return self.__get__(instance, owner)
        stored = instance.__dict__.get(self.field.attname)
        value = None if not stored else self.field.decrypt_for(instance, stored)
        instance.__dict__[self.cache_name] = value
        return value

    def __set__(self, instance, value):
        if isinstance(value, Ciphertext):
            instance.__dict__[self.field.attname] = value
            instance.__dict__.pop(self.cache_name, None)
            return
        instance.__dict__[self.field.attname] = None
        instance.__dict__[self.cache_name] = value


class EncryptedJSONField(models.TextField):
    # What the descriptor takes and gives back (django-stubs reads these): the JSON value, not the column's
    # text. Narrowing them is the point, so the override is incompatible with TextField's on purpose.
    _pyi_private_set_type: dict[str, Any] | Ciphertext | None  # type: ignore[assignment]
    _pyi_private_get_type: dict[str, Any] | None  # type: ignore[assignment]

    description = "JSON encrypted with the Patchbay vault"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def contribute_to_class(self, cls, name, private_only=False):
        super().contribute_to_class(cls, name, private_only=private_only)
        setattr(cls, self.name, EncryptedJSONDescriptor(self))

    def to_python(self, value):
        # full_clean() must not turn the plaintext dict into its str(); values are JSON, not text.
        return value

    def from_db_value(self, value, expression, connection):
        return None if value is None else Ciphertext(value)

    def decrypt_for(self, instance, stored: str):
        return self.decrypt_stored(model=type(instance), pk=instance.pk, stored=stored)

    def decrypt_stored(self, *, model: type[models.Model], pk, stored: str):
        """The plaintext of a value read without a model instance (values()), e.g. a list page's rows."""
        return crypto.decrypt_json(stored, aad=aad_for(model, pk, self.name))

    def pre_save(self, model_instance, add):
        cache_name = f"_{self.name}_plaintext"
        plaintext = model_instance.__dict__.get(cache_name, UNSET)
        stored = model_instance.__dict__.get(self.attname)
        if stored:
            return stored
        if plaintext is UNSET or plaintext is None:
            return None
        if model_instance.pk is None:
            raise ValueError("EncryptedJSONField needs the primary key before save to bind the ciphertext")
        token = Ciphertext(
            crypto.encrypt_json(plaintext, aad=aad_for(type(model_instance), model_instance.pk, self.name))
        )
        model_instance.__dict__[self.attname] = token
        return token

    def get_prep_value(self, value):
        if value is None or isinstance(value, Ciphertext):
            return value
        if isinstance(value, str) and value.startswith(crypto.PREFIX + ":"):
            return value
        raise TypeError("EncryptedJSONField values are encrypted in pre_save; do not filter or update by plaintext")

    def value_to_string(self, obj):
        return "•••• (set)" if obj.__dict__.get(self.attname) else ""
