"""The vault: values round-trip, tampering and moving fail loudly, keys rotate without losing data."""

import base64
import json

import pytest
from django.core import serializers
from django.core.management import call_command

from apps.catalog.models import ConnectorConfig
from apps.connections.models import Connection
from apps.tenants.models import Application
from apps.vault import keyring
from apps.vault import services as vault_services
from apps.vault.crypto import DecryptionError
from apps.vault.fields import Ciphertext
from apps.vault.services import encrypted_columns, vault_count_stale, vault_rotate_column
from tests.factories import ApplicationFactory, CustomerFactory, provider_for

pytestmark = pytest.mark.django_db

OLD_KEYS = "test2:MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="
NEW_KEY = "new:" + base64.b64encode(b"n" * 32).decode()
SECRET = "sekrit-token-123"


@pytest.fixture
def use_keys(settings):
    """Switch PATCHBAY_VAULT_KEYS for the test and drop the cached keyring on both sides."""

    def switch(raw: str) -> None:
        settings.PATCHBAY_VAULT_KEYS = raw
        keyring._cached_keyring.cache_clear()

    yield switch
    keyring._cached_keyring.cache_clear()


def stored(model, pk, column: str) -> str:
    return model.objects.filter(pk=pk).values_list(column, flat=True).get()


def test_round_trip_and_column_holds_only_ciphertext():
    application = ApplicationFactory(webhook_secret={"secret": SECRET, "n": [1, 2]})
    raw = stored(Application, application.pk, "webhook_secret")
    assert raw.startswith("pbv1:test2:")
    assert SECRET not in raw
    assert Application.objects.get(pk=application.pk).webhook_secret == {"secret": SECRET, "n": [1, 2]}


def test_same_value_encrypts_differently_each_time():
    first = ApplicationFactory(webhook_secret={"secret": SECRET})
    second = ApplicationFactory(webhook_secret={"secret": SECRET})
    assert stored(Application, first.pk, "webhook_secret") != stored(Application, second.pk, "webhook_secret")


def test_none_is_stored_as_null():
    application = ApplicationFactory(webhook_secret=None)
    assert stored(Application, application.pk, "webhook_secret") is None
    assert Application.objects.get(pk=application.pk).webhook_secret is None


def test_tampered_ciphertext_fails_to_decrypt():
    application = ApplicationFactory(webhook_secret={"secret": SECRET})
    raw = stored(Application, application.pk, "webhook_secret")
    prefix, body = raw.rsplit(":", 1)
    flipped = "A" if body[20] != "A" else "B"
    tampered = f"{prefix}:{body[:20]}{flipped}{body[21:]}"
    Application.objects.filter(pk=application.pk).update(webhook_secret=Ciphertext(tampered))
    with pytest.raises(DecryptionError):
        _ = Application.objects.get(pk=application.pk).webhook_secret


def test_ciphertext_copied_to_another_row_fails_to_decrypt():
    victim = ApplicationFactory(webhook_secret={"secret": SECRET})
    attacker = ApplicationFactory(webhook_secret={"secret": "mine"})
    Application.objects.filter(pk=attacker.pk).update(
        webhook_secret=Ciphertext(stored(Application, victim.pk, "webhook_secret"))
    )
    with pytest.raises(DecryptionError):
        _ = Application.objects.get(pk=attacker.pk).webhook_secret


def test_ciphertext_copied_to_another_table_fails_to_decrypt():
    application = ApplicationFactory(webhook_secret={"secret": SECRET})
    config = ConnectorConfig.objects.create(
        application=application, provider=provider_for("patchbay-sandbox"), client_secret={"client_secret": "x"}
    )
    ConnectorConfig.objects.filter(pk=config.pk).update(
        client_secret=Ciphertext(stored(Application, application.pk, "webhook_secret"))
    )
    with pytest.raises(DecryptionError):
        _ = ConnectorConfig.objects.get(pk=config.pk).client_secret


def test_unknown_key_id_fails_to_decrypt(use_keys):
    application = ApplicationFactory(webhook_secret={"secret": SECRET})
    use_keys(NEW_KEY)
    with pytest.raises(DecryptionError):
        _ = Application.objects.get(pk=application.pk).webhook_secret


def test_filtering_by_plaintext_is_refused():
    with pytest.raises(TypeError):
        list(Application.objects.filter(webhook_secret={"secret": SECRET}))


def test_secrets_are_absent_from_repr_str_and_serialization():
    application = ApplicationFactory(webhook_secret={"secret": SECRET})
    customer = CustomerFactory(application=application)
    provider = provider_for("patchbay-sandbox")
    config = ConnectorConfig.objects.create(
        application=application, provider=provider, client_secret={"client_secret": SECRET}
    )
    connection = Connection.objects.create(
        application=application, customer=customer, provider=provider, credentials={"access_token": SECRET}
    )
    for obj in (application, config, connection):
        fresh = type(obj).objects.get(pk=obj.pk)
        for text in (repr(obj), str(obj), repr(fresh), str(fresh)):
            assert SECRET not in text
        dumped = serializers.serialize("json", [fresh])
        assert SECRET not in dumped
        assert "pbv1:" not in dumped


def _seed_rows(count: int = 3):
    rows = []
    for i in range(count):
        application = ApplicationFactory(webhook_secret={"secret": f"{SECRET}-{i}"})
        config = ConnectorConfig.objects.create(
            application=application,
            provider=provider_for("patchbay-sandbox"),
            client_secret={"client_secret": f"cs-{i}"},
        )
        connection = Connection.objects.create(
            application=application,
            customer=CustomerFactory(application=application),
            provider=provider_for("patchbay-sandbox"),
            credentials={"access_token": f"at-{i}"},
        )
        rows.append((application, config, connection))
    return rows


def _assert_all_decrypt(rows):
    for i, (application, config, connection) in enumerate(rows):
        assert Application.objects.get(pk=application.pk).webhook_secret == {"secret": f"{SECRET}-{i}"}
        assert ConnectorConfig.objects.get(pk=config.pk).secret_value == f"cs-{i}"
        assert Connection.objects.get(pk=connection.pk).credentials == {"access_token": f"at-{i}"}


def test_every_encrypted_column_is_found():
    labels = {column.label for column in encrypted_columns()}
    assert {
        "tenants.Application.webhook_secret",
        "catalog.ConnectorConfig.client_secret",
        "connections.Connection.credentials",
        "connect.OAuthAttempt.code_verifier",
    } <= labels


def test_rotate_keys_reencrypts_everything_then_old_key_can_go(use_keys, capsys):
    rows = _seed_rows()
    use_keys(f"{NEW_KEY},{OLD_KEYS}")
    assert sum(vault_count_stale().values()) >= 9
    _assert_all_decrypt(rows)  # old ciphertexts still readable while both keys are configured

    call_command("rotate_keys", batch_size=2, verbosity=0)

    assert sum(vault_count_stale().values()) == 0
    for application, config, connection in rows:
        assert stored(Application, application.pk, "webhook_secret").startswith("pbv1:new:")
        assert stored(ConnectorConfig, config.pk, "client_secret").startswith("pbv1:new:")
        assert stored(Connection, connection.pk, "credentials").startswith("pbv1:new:")
    use_keys(NEW_KEY)  # old key removed
    _assert_all_decrypt(rows)


def test_rotate_keys_dry_run_changes_nothing(use_keys, capsys):
    rows = _seed_rows(1)
    before = stored(Application, rows[0][0].pk, "webhook_secret")
    use_keys(f"{NEW_KEY},{OLD_KEYS}")
    call_command("rotate_keys", dry_run=True)
    assert "Rows on an older key" in capsys.readouterr().out
    assert stored(Application, rows[0][0].pk, "webhook_secret") == before


def test_rotation_is_resumable_after_an_interruption(use_keys):
    rows = _seed_rows(4)
    use_keys(f"{NEW_KEY},{OLD_KEYS}")
    column = next(c for c in encrypted_columns() if c.label == "tenants.Application.webhook_secret")
    total_stale = vault_count_stale()[column.label]
    batches = vault_rotate_column(column=column, batch_size=1)
    assert next(batches) == 1  # one batch done, then the process "dies"
    batches.close()
    assert vault_count_stale()[column.label] == total_stale - 1

    call_command("rotate_keys", verbosity=0)  # rerun finishes the rest
    assert sum(vault_count_stale().values()) == 0
    use_keys(NEW_KEY)
    _assert_all_decrypt(rows)


def test_rotation_does_not_overwrite_a_concurrent_write(use_keys, monkeypatch):
    (application, _, _), *_ = _seed_rows(1)
    use_keys(f"{NEW_KEY},{OLD_KEYS}")
    column = next(c for c in encrypted_columns() if c.label == "tenants.Application.webhook_secret")
    real_encrypt = vault_services.crypto.encrypt

    def encrypt_while_a_service_writes(plaintext, **kwargs):
        # A service saves a new secret between the rotation's read and its compare-and-swap update.
        monkeypatch.setattr(vault_services.crypto, "encrypt", real_encrypt)
        fresh = Application.objects.get(pk=application.pk)
        fresh.webhook_secret = {"secret": "written-meanwhile"}
        fresh.save()
        return real_encrypt(plaintext, **kwargs)

    monkeypatch.setattr(vault_services.crypto, "encrypt", encrypt_while_a_service_writes)
    list(vault_rotate_column(column=column, batch_size=10))
    assert Application.objects.get(pk=application.pk).webhook_secret == {"secret": "written-meanwhile"}


def test_keyring_parsing_errors_are_clear():
    for raw, message in [
        ("", "no keys"),
        ("nocolon", "id:base64key"),
        ("k:notbase64!!", "base64"),
        ("k:" + base64.b64encode(b"short").decode(), "32 bytes"),
        (f"{NEW_KEY},{NEW_KEY}", "twice"),
    ]:
        with pytest.raises(keyring.KeyringError, match=message):
            keyring.parse_keyring(raw)
    parsed = keyring.parse_keyring(f"{NEW_KEY},{OLD_KEYS}")
    assert parsed.primary_id == "new"
    assert json.dumps(sorted(parsed.keys)) == '["new", "test2"]'


def test_full_clean_keeps_the_plaintext_value():
    application = ApplicationFactory.build(webhook_secret={"secret": SECRET})
    application.clean_fields()
    assert application.webhook_secret == {"secret": SECRET}


def test_staff_totp_secrets_are_vault_encrypted_and_rotate_with_the_keys(use_keys):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    from tests.factories import StaffUserFactory

    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    authenticator = TOTP.activate(StaffUserFactory(), secret).instance
    stored_secret = Authenticator.objects.get(pk=authenticator.pk).data["secret"]
    assert stored_secret.startswith("pbv1:test2:") and secret not in stored_secret

    use_keys(f"{NEW_KEY},{OLD_KEYS}")
    assert vault_count_stale()["mfa.Authenticator.data"] == 1
    call_command("rotate_keys", verbosity=0)
    use_keys(NEW_KEY)
    reloaded = Authenticator.objects.get(pk=authenticator.pk)
    assert reloaded.data["secret"].startswith("pbv1:new:")
    from allauth.mfa.utils import decrypt

    assert decrypt(reloaded.data["secret"]) == secret
