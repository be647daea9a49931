"""Staff MFA secrets (allauth's TOTP key and recovery-code seed) are stored through the vault."""

from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator

from apps.vault import crypto
from apps.vault.services import EmbeddedSecrets

MFA_AAD = b"mfa_authenticator:data"

MFA_SECRETS = EmbeddedSecrets(model=Authenticator, json_field="data", keys=("secret", "seed"), aad=MFA_AAD)


class VaultMFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text.encode(), aad=MFA_AAD)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text, aad=MFA_AAD).decode()
