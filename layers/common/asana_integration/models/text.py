"""Text a caller may send: constrained where it enters, so nothing unsafe reaches storage, an HTTP header or a log line.

Asana's tokens, secrets, client ids and page offsets are opaque, and Asana asks integrations not to validate their
format. What none of them can contain is a character outside printable ASCII: a control character (NUL, ESC, BEL,
and CR/LF, which would split the ``Authorization`` header a PAT is sent in), a space, or anything non-ASCII (such as
U+FFFD, which a gateway puts where a body's bytes were not UTF-8). Those are refused with the field named and the
value never echoed. Surrounding whitespace, which a paste often adds, is trimmed first by the models that use these
types (``str_strip_whitespace``). A Quick Action's ``offset`` query parameter takes ``VISIBLE_ASCII`` as its pattern.

The pattern is declared in the OpenAPI document too, so clients (and Schemathesis) know what is accepted.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, StringConstraints
from pydantic_core import PydanticCustomError

# Printable ASCII without the space: "!" (0x21) to "~" (0x7E).
VISIBLE_ASCII = r"^[!-~]+$"
_VISIBLE_ASCII = re.compile(VISIBLE_ASCII)


def _visible_ascii_secret(value: SecretStr) -> SecretStr:
    # pydantic applies no pattern to a SecretStr, so the secret's own text is checked here. The error names the rule,
    # never the value.
    if not _VISIBLE_ASCII.fullmatch(value.get_secret_value()):
        raise PydanticCustomError(
            "visible_ascii", "must be printable ASCII characters, without spaces or control characters"
        )
    return value


OpaqueSecret = Annotated[
    SecretStr,
    Field(min_length=1, max_length=1024, json_schema_extra={"pattern": VISIBLE_ASCII}),
    AfterValidator(_visible_ascii_secret),
]
"""A token or secret (client secret, PAT): kept as ``SecretStr``, so no repr, log line or error shows it."""

OpaqueIdentifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=VISIBLE_ASCII)]
"""An identifier Asana issues (a client id: digits in practice, but not promised)."""
