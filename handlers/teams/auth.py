"""Verify that a request to /api/messages comes from the Bot Framework (its JWT), without blocking the loop.

The checks are those of botframework-connector's `ChannelValidation`: an RS256 token signed by a key
listed at the OpenID metadata's `jwks_uri`, issuer https://api.botframework.com, audience our app id,
not expired (5 minutes of clock skew), its `serviceurl` claim equal to the activity's serviceUrl, and a
signing key whose `endorsements` (when listed) include the activity's channelId. botframework-connector
4.17 itself is not used: it fetches the keys with blocking `requests` calls inside its coroutines and keeps
them in a process-wide cache, with the metadata URL a class attribute. Here the metadata and keys are
fetched with aiohttp and kept for 24 hours; an unknown key id refetches them once (at most once a minute).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

JsonDict = dict[str, Any]

ISSUER = "https://api.botframework.com"
ALGORITHMS = ["RS256"]
CLOCK_SKEW_S = 5 * 60
KEYS_TTL_S = 24 * 3600
UNKNOWN_KID_REFETCH_S = 60.0


class Unauthorized(Exception):
    """The request is not from the Bot Framework (or not for us); `reason` says why, briefly."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SigningKey:
    """One key of the JWKS: its public key and the channels it is endorsed for (None: not listed)."""

    key: Any
    endorsements: frozenset[str] | None


def bearer_token(auth_header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header."""
    scheme, _, token = (auth_header or "").strip().partition(" ")
    if scheme != "Bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    return token.strip()


def parse_jwks(jwks: Any) -> dict[str, SigningKey]:
    """The usable signing keys of a JWKS document by kid (entries that are not RSA keys are skipped)."""
    keys: dict[str, SigningKey] = {}
    entries = jwks.get("keys") if isinstance(jwks, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not entry.get("kid"):
            continue
        try:
            public = jwt.PyJWK(entry, algorithm="RS256").key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        endorsements = entry.get("endorsements")
        listed = frozenset(str(e) for e in endorsements) if isinstance(endorsements, list) else None
        keys[str(entry["kid"])] = SigningKey(public, listed)
    return keys


def check_endorsement(key: SigningKey, channel_id: Any) -> None:
    """Refuse a key whose listed endorsements do not include the activity's channel."""
    if key.endorsements is not None and (not isinstance(channel_id, str) or channel_id not in key.endorsements):
        raise Unauthorized(f"signing key not endorsed for channel {channel_id!r}")


def decode_claims(token: str, key: SigningKey, *, app_id: str) -> JsonDict:
    """Check the signature, issuer, audience and lifetime of `token`; return its claims."""
    try:
        return jwt.decode(token, key.key, algorithms=ALGORITHMS, audience=app_id, issuer=ISSUER,
                          leeway=CLOCK_SKEW_S, options={"require": ["exp", "iss", "aud"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise Unauthorized("token not yet valid") from exc
    except jwt.InvalidAudienceError as exc:
        raise Unauthorized("token is for another app id") from exc
    except jwt.InvalidIssuerError as exc:
        raise Unauthorized("token not issued by the Bot Framework") from exc
    except jwt.InvalidSignatureError as exc:
        raise Unauthorized("bad token signature") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthorized(f"token lacks the {exc.claim!r} claim") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"invalid token ({type(exc).__name__})") from exc


class InboundAuth:
    """Verifies Bot Framework tokens on inbound activities against keys from `openid_url`."""

    def __init__(self, *, app_id: str, openid_url: str, timeout: float = 10,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._app_id = app_id
        self._openid_url = openid_url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._kid_refetch_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0
        """How many times the metadata and keys were fetched."""

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def verify(self, auth_header: str | None, activity: JsonDict) -> JsonDict:
        """Return the token's claims when the request is from the Bot Framework for us; else Unauthorized."""
        token = bearer_token(auth_header)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("malformed token") from exc
        if header.get("alg") not in ALGORITHMS:
            raise Unauthorized(f"token algorithm {header.get('alg')!r} not allowed")
        key = await self._key(str(header.get("kid") or ""))
        check_endorsement(key, activity.get("channelId"))
        claims = decode_claims(token, key, app_id=self._app_id)
        service_url = activity.get("serviceUrl")
        if not service_url or claims.get("serviceurl") != service_url:
            raise Unauthorized("serviceurl claim does not match the activity's serviceUrl")
        return claims

    async def _key(self, kid: str) -> SigningKey:
        """The signing key `kid`, refetching the keys when stale or (once) when the kid is unknown."""
        async with self._lock:
            now = self._clock()
            fresh = self._fetched_at is None or now - self._fetched_at >= KEYS_TTL_S
            if fresh:
                await self._refresh(keep_stale=self._fetched_at is not None)
            if kid not in self._keys and not fresh and (
                    self._kid_refetch_at is None or now - self._kid_refetch_at >= UNKNOWN_KID_REFETCH_S):
                self._kid_refetch_at = now
                await self._refresh(keep_stale=True)
            key = self._keys.get(kid)
        if key is None:
            raise Unauthorized(f"unknown signing key {kid!r}")
        return key

    async def _refresh(self, *, keep_stale: bool) -> None:
        """Fetch the metadata and its JWKS; on failure keep the keys we had (when allowed) or refuse."""
        try:
            keys = parse_jwks(await self._fetch_jwks())
        except (TimeoutError, aiohttp.ClientError, ValueError, KeyError) as exc:
            if keep_stale and self._keys:
                return
            raise Unauthorized(f"signing keys unavailable ({type(exc).__name__})") from exc
        self.fetches += 1
        self._keys = keys
        self._fetched_at = self._clock()

    async def _fetch_jwks(self) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.get(self._openid_url) as response:
            response.raise_for_status()
            metadata = await response.json(content_type=None)
        jwks_uri = metadata["jwks_uri"] if isinstance(metadata, dict) else None
        if not isinstance(jwks_uri, str):
            raise ValueError("OpenID metadata without jwks_uri")
        async with self._session.get(jwks_uri) as response:
            response.raise_for_status()
            return await response.json(content_type=None)
