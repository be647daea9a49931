from typing import TextIO, cast

from django.core.management.base import BaseCommand
from tqdm import tqdm

from apps.vault.keyring import get_keyring
from apps.vault.services import (
    embedded_secret_sets,
    encrypted_columns,
    vault_count_stale,
    vault_rotate_column,
    vault_rotate_embedded,
)


class Command(BaseCommand):
    help = (
        "Re-encrypt every vault value under the newest key in PATCHBAY_VAULT_KEYS. Resumable: rerun after an "
        "interruption and it continues with the rows still on an older key. When it reports 0 left, the "
        "old keys can be removed from PATCHBAY_VAULT_KEYS."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--dry-run", action="store_true", help="Only count rows still on an older key.")

    def handle(self, *args, batch_size: int, dry_run: bool, **options):
        keyring = get_keyring()
        stale = vault_count_stale(keyring=keyring)
        total = sum(stale.values())
        self.stdout.write(f"Newest key: {keyring.primary_id}. Rows on an older key: {total}.")
        if dry_run or total == 0:
            return
        # The stream under OutputWrapper, which would end each of tqdm's in-place redraws with a newline.
        stream = cast(TextIO, self.stderr._out)
        progress = tqdm(total=total, unit="row", file=stream, disable=options["verbosity"] == 0)
        for column in encrypted_columns():
            for done in vault_rotate_column(column=column, batch_size=batch_size, keyring=keyring):
                progress.update(done)
        for embedded in embedded_secret_sets():
            progress.update(vault_rotate_embedded(embedded=embedded, keyring=keyring))
        progress.close()
        left = sum(vault_count_stale(keyring=keyring).values())
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} rows; {left} left on older keys."))
