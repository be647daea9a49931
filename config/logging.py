"""Nothing secret reaches a log line: every handler Patchbay configures formats through `ScrubbingFormatter`.

Scrubbed wherever they appear in the message or the traceback: Patchbay API keys, credentials after any
HTTP auth scheme (not only Bearer), and the values of OAuth parameters and fields that carry codes,
states, tokens, secrets and keys (query strings, form bodies, JSON).
"""

import logging
import re

REDACTED = "[redacted]"
SECRET_NAMES = (
    r"code|state|access_token|refresh_token|id_token|token|client_secret|secret|password|api_key|apikey|"
    r"code_verifier|assertion|key"
)
_PATTERNS = [
    (re.compile(r"pb_(?:live|test)_[A-Za-z0-9_\-]+"), REDACTED),
    (
        # A credential after an auth scheme: at least 8 characters with a digit, capital or symbol in it,
        # so prose such as "token endpoint" stays readable.
        re.compile(
            r"\b((?i:bearer|basic|token|digest|apikey|api-key|hmac))(\s+)(?=\S*[0-9A-Z_\-+/=.:])[A-Za-z0-9._~+/=\-:]{8,}"
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(rf"(?i)([?&\s\"'(]|^)({SECRET_NAMES})=([^&\s\"',)]+)"), rf"\1\2={REDACTED}"),
    (re.compile(rf"(?i)([\"'])({SECRET_NAMES})\1(\s*:\s*)([\"'])(.*?)\4"), rf"\1\2\1\3\4{REDACTED}\4"),
]


def scrub(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class ScrubbingFormatter(logging.Formatter):
    """A logging.Formatter whose output (message, arguments and traceback) has secrets replaced."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))
