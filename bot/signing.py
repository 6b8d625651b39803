"""HMAC-SHA256 signatures of raw bodies, as `sha256=<hex>` (our webhooks and Meta's use this form)."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    """The `sha256=<hex>` signature of `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the right signature of `body` (constant-time comparison)."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())
