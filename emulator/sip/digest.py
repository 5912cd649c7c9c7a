"""HTTP Digest authentication of REGISTER (RFC 3261 22.4, RFC 2617 with MD5 and qop=auth).

Sans-IO and stateless: a nonce is its issue time with an HMAC of it under a per-process
secret, so a flood of unauthenticated requests costs no memory, and a nonce is good for
NONCE_TTL_S. MD5 is what SIP phones speak; it protects nothing beyond this emulator.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from sipmessage import AuthCredentials

NONCE_TTL_S = 300.0


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


class DigestAuthority:
    def __init__(self, realm: str = "ipo-emu", secret: bytes | None = None) -> None:
        self.realm = realm
        self._secret = secret if secret is not None else os.urandom(16)

    def _nonce(self, issued: int) -> str:
        return f"{issued:x}.{hmac.new(self._secret, str(issued).encode(), hashlib.sha256).hexdigest()[:24]}"

    def challenge(self, now: float) -> str:
        """A WWW-Authenticate header value."""
        return f'Digest realm="{self.realm}", nonce="{self._nonce(int(now))}", algorithm=MD5, qop="auth"'

    def verify(self, credentials: AuthCredentials | None, method: str, username: str, password: str,
               now: float) -> bool:
        if credentials is None or credentials.scheme.lower() != "digest" or credentials.parameters is None:
            return False
        p = credentials.parameters
        nonce = p.get("nonce", "")
        issued_text, _, _ = nonce.partition(".")
        try:
            issued = int(issued_text, 16)
        except ValueError:
            return False
        if not hmac.compare_digest(nonce, self._nonce(issued)) or not 0 <= now - issued <= NONCE_TTL_S:
            return False
        if p.get("username") != username or p.get("realm") != self.realm or p.get("algorithm", "MD5").upper() != "MD5":
            return False
        ha1 = _md5(f"{username}:{self.realm}:{password}")
        ha2 = _md5(f"{method}:{p.get('uri', '')}")
        if p.get("qop"):
            if p.get("qop") != "auth":
                return False
            expected = _md5(f"{ha1}:{nonce}:{p.get('nc', '')}:{p.get('cnonce', '')}:auth:{ha2}")
        else:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        return hmac.compare_digest(expected, p.get("response", ""))


def credentials_for(username: str, password: str, realm: str, nonce: str, method: str, uri: str,
                    cnonce: str = "0a4f113b", nc: str = "00000001") -> str:
    """An Authorization header value answering a challenge (what a phone sends; for tests)."""
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
    return (f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{response}", '
            f'algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}"')
