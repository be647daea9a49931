"""The vault keyring: `PATCHBAY_VAULT_KEYS` = "id:base64key,id:base64key", newest first."""

import base64
import binascii
import re
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class KeyringError(ValueError):
    pass


@dataclass(frozen=True)
class Keyring:
    keys: dict[str, bytes]
    primary_id: str

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyringError(f"vault key {key_id!r} is not in PATCHBAY_VAULT_KEYS") from None


def parse_keyring(raw: str) -> Keyring:
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not KEY_ID_PATTERN.match(key_id):
            raise KeyringError(f"entry {key_id!r} must look like id:base64key with id of [A-Za-z0-9_-]")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise KeyringError(f"key {key_id!r} is not valid base64") from None
        if len(key) != 32:
            raise KeyringError(f"key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")
        if key_id in keys:
            raise KeyringError(f"key id {key_id!r} appears twice")
        keys[key_id] = key
        order.append(key_id)
    if not order:
        raise KeyringError("no keys configured")
    return Keyring(keys=keys, primary_id=order[0])


@lru_cache(maxsize=8)
def _cached_keyring(raw: str) -> Keyring:
    return parse_keyring(raw)


def get_keyring() -> Keyring:
    return _cached_keyring(settings.PATCHBAY_VAULT_KEYS)
