"""The only CID check this layer makes: a short ASCII alphanumeric string (multibase base32/base58 CIDs are).
Parsing and verifying CIDs belongs to the content store."""

from __future__ import annotations

import re

MAX_CID_CHARS = 128
_CID_TEXT = re.compile(rf"^[A-Za-z0-9]{{1,{MAX_CID_CHARS}}}$")


def is_cid_text(value: object) -> bool:
    return isinstance(value, str) and _CID_TEXT.match(value) is not None
