"""AES-256-GCM with a key id and a random 96-bit nonce per value.

Token format: ``pbv1:<key id>:<base64url(nonce || ciphertext || tag)>``. The associated data (AAD)
names the table, row and field a value belongs to, so a ciphertext copied elsewhere fails to decrypt.
"""

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from apps.vault.keyring import Keyring, KeyringError, get_keyring

PREFIX = "pbv1"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """The value was tampered with, moved to another row, or encrypted under an unknown key."""


def encrypt(plaintext: bytes, *, aad: bytes, keyring: Keyring | None = None) -> str:
    keyring = keyring or get_keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(keyring.key(keyring.primary_id)).encrypt(nonce, plaintext, aad)
    body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    return f"{PREFIX}:{keyring.primary_id}:{body}"


def decrypt(token: str, *, aad: bytes, keyring: Keyring | None = None) -> bytes:
    keyring = keyring or get_keyring()
    _, key_id, body = _split(token)
    try:
        key = keyring.key(key_id)
    except KeyringError as exc:
        raise DecryptionError(str(exc)) from None
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        raise DecryptionError("ciphertext is not valid base64") from None
    if len(raw) < NONCE_BYTES + 16:
        raise DecryptionError("ciphertext is truncated")
    try:
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionError("ciphertext failed authentication (tampered, or bound to another row)") from None


def encrypt_json(value: Any, *, aad: bytes, keyring: Keyring | None = None) -> str:
    return encrypt(json.dumps(value, separators=(",", ":")).encode(), aad=aad, keyring=keyring)


def decrypt_json(token: str, *, aad: bytes, keyring: Keyring | None = None) -> Any:
    return json.loads(decrypt(token, aad=aad, keyring=keyring))


def _split(token: str) -> tuple[str, str, str]:
    parts = token.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        raise DecryptionError("value is not a Patchbay vault ciphertext")
    return parts[0], parts[1], parts[2]
