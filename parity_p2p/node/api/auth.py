"""Bearer-token check of the control API. The token lives in <data dir>/api.token (mode 0600)."""

from __future__ import annotations

import hmac


def bearer_matches(header: str | None, token: str) -> bool:
    """True iff `header` is `Bearer <token>`. Constant-time in the token's content (hmac.compare_digest)."""
    if header is None:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    try:
        return hmac.compare_digest(given.strip().encode("ascii"), token.encode("ascii"))
    except UnicodeEncodeError:
        return False
