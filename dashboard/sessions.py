"""Session cookies that are encrypted and authenticated (Fernet), so they can hold a CSRF token.

Fernet is AES-128-CBC with an HMAC-SHA256 over the ciphertext and a timestamp: a cookie can
be neither read nor altered without the key, and one older than the lifetime is refused.
The key is derived from ``TIPLINE_SECRET_KEY`` with HKDF, so every worker that shares the
setting accepts every other worker's cookies.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import timedelta

from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["COOKIE_NAME", "Session", "SessionCodec"]

COOKIE_NAME = "tipline_session"
SESSION_LIFETIME = timedelta(hours=12)


def _new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    """Who is logged in (if anyone) and the CSRF token their forms must carry."""

    csrf_token: str = field(default_factory=_new_token)
    editor_id: int | None = None
    flash: str | None = None

    @classmethod
    def for_editor(cls, editor_id: int) -> Session:
        """A fresh session for a login: a new CSRF token, so one planted earlier is useless."""
        return cls(editor_id=editor_id)

    def with_flash(self, message: str | None) -> Session:
        return replace(self, flash=message)


class SessionCodec:
    """Turns sessions into cookie values and back."""

    def __init__(self, secret_key: str, *, lifetime: timedelta = SESSION_LIFETIME) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"tipline-dashboard",
            info=b"session cookie",
        ).derive(secret_key.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self.lifetime = lifetime

    def encode(self, session: Session) -> str:
        payload = {"c": session.csrf_token, "e": session.editor_id, "f": session.flash}
        return self._fernet.encrypt(json.dumps(payload).encode("utf-8")).decode("ascii")

    def decode(self, value: str | None) -> Session | None:
        """The session in a cookie, or None if it is missing, forged, mangled or expired."""
        if not value:
            return None
        try:
            raw = self._fernet.decrypt(
                value.encode("ascii"), ttl=int(self.lifetime.total_seconds())
            )
            payload = json.loads(raw)
            return Session(
                csrf_token=str(payload["c"]),
                editor_id=int(payload["e"]) if payload["e"] is not None else None,
                flash=payload.get("f"),
            )
        except (InvalidToken, UnicodeError, ValueError, KeyError, TypeError):
            return None

    def store(self, request: web.Request, response: web.StreamResponse, session: Session) -> None:
        """Set the cookie: HttpOnly, SameSite=Lax, and Secure when the request came over TLS."""
        response.set_cookie(
            COOKIE_NAME,
            self.encode(session),
            max_age=int(self.lifetime.total_seconds()),
            path="/",
            httponly=True,
            samesite="Lax",
            secure=_over_tls(request),
        )


def _over_tls(request: web.Request) -> bool:
    # Behind a TLS-terminating proxy the scheme arrives in X-Forwarded-Proto; trusting it can
    # only add the Secure flag, never remove it.
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
