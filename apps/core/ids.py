"""Public ids: a short type prefix plus a lowercase ULID (sortable by creation time), e.g. conn_01j9…."""

from django.utils.deconstruct import deconstructible
from ulid import ULID


def new_id(prefix: str) -> str:
    return f"{prefix}_{str(ULID()).lower()}"


@deconstructible
class PrefixedId:
    """Callable default for a primary key, serialisable into migrations."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def __call__(self) -> str:
        return new_id(self.prefix)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrefixedId) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)
