"""Coinbase Advanced Trade WebSocket protocol: timestamps, subscribe messages, optional ES256 JWT."""

from __future__ import annotations

import base64
import calendar
import json
import os
import secrets
import time

WS_URL = "wss://advanced-trade-ws.coinbase.com"
# Where a configured CDP key is read from: environment only, never a file or a flag.
ENV_KEY_NAME = "COINBASE_API_KEY_NAME"
ENV_PRIVATE_KEY = "COINBASE_API_PRIVATE_KEY"
JWT_LIFETIME_S = 120  # Coinbase rejects JWTs older than 2 minutes

_SECONDS_CACHE: dict[str, int] = {}


def parse_ts_ns(text: str) -> int:
    """RFC 3339 UTC timestamp (``2026-08-09T21:05:48.228568804Z``) -> integer ns since the epoch."""
    try:
        head = text[:19]  # YYYY-MM-DDTHH:MM:SS
        secs = _SECONDS_CACHE.get(head)
        if secs is None:
            if len(_SECONDS_CACHE) > 4096:
                _SECONDS_CACHE.clear()
            secs = calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S"))
            _SECONDS_CACHE[head] = secs
        rest = text[19:]
        if rest == "Z":
            return secs * 1_000_000_000
        if rest[0] != "." or rest[-1] != "Z" or not rest[1:-1].isdigit():
            raise ValueError
        frac = rest[1:-1][:9]
        return secs * 1_000_000_000 + int(frac) * 10 ** (9 - len(frac))
    except (ValueError, IndexError, TypeError):
        raise ValueError(f"bad timestamp {text!r}: expected RFC 3339 UTC like 2026-08-09T21:05:48.228Z") from None


def subscribe_message(channel: str, product_ids: list[str], jwt: str | None = None,
                      kind: str = "subscribe") -> dict:
    """One (un)subscribe message for one channel; ``heartbeats`` takes no products."""
    if kind not in ("subscribe", "unsubscribe"):
        raise ValueError(f"kind must be subscribe or unsubscribe, got {kind!r}")
    msg: dict = {"type": kind, "channel": channel}
    if channel != "heartbeats":
        msg["product_ids"] = list(product_ids)
    if jwt is not None:
        msg["jwt"] = jwt
    return msg


def redact(msg: dict) -> dict:
    """Copy of a sent message that is safe to store (no JWT)."""
    return {k: ("<redacted>" if k == "jwt" else v) for k, v in msg.items()}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_claims(key_name: str, now_s: int | None = None) -> tuple[dict, dict]:
    """JWT header and payload Coinbase documents for WebSocket auth (no ``uri`` claim for WS)."""
    now_s = int(time.time()) if now_s is None else now_s
    header = {"alg": "ES256", "kid": key_name, "nonce": secrets.token_hex(16), "typ": "JWT"}
    payload = {"iss": "cdp", "nbf": now_s, "exp": now_s + JWT_LIFETIME_S, "sub": key_name}
    return header, payload


def sign_jwt(key_name: str, private_key_pem: str, now_s: int | None = None) -> str:
    """ES256-signed JWT for one subscribe message. Needs the optional ``cryptography`` package."""
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    except ImportError as exc:  # optional: public market data needs no credentials
        raise RuntimeError(
            f"{ENV_KEY_NAME} is set, so subscribe messages must carry an ES256 JWT, which needs the "
            "'cryptography' package (pip install cryptography); unset the key to record public data"
        ) from exc
    header, payload = jwt_claims(key_name, now_s)
    signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + _b64url(json.dumps(payload, separators=(",", ":")).encode()))
    key = serialization.load_pem_private_key(private_key_pem.replace("\\n", "\n").encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError(f"{ENV_PRIVATE_KEY} must be an EC P-256 private key (PEM) for ES256")
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    # JWS wants the raw 64-byte r||s, not DER
    return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def credentials_from_env(environ: dict | None = None) -> tuple[str, str] | None:
    """(key name, PEM) when both env vars are set, else None (public data, no JWT)."""
    env = os.environ if environ is None else environ
    name, pem = env.get(ENV_KEY_NAME), env.get(ENV_PRIVATE_KEY)
    if not name and not pem:
        return None
    if not (name and pem):
        raise ValueError(f"set both {ENV_KEY_NAME} and {ENV_PRIVATE_KEY}, or neither")
    return name, pem
