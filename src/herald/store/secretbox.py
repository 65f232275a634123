"""Encryption of stored secrets with the master key(s) from HERALD_SECRET_KEY.

MultiFernet: the first key encrypts, every key decrypts, so the master key can be rotated by putting the
new key first and re-saving (`rotate`).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from herald.config import ConfigError


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigError("at least one secret key is required")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except ValueError as exc:
            raise ConfigError(
                "HERALD_SECRET_KEY must be url-safe base64 32-byte keys (see `herald keygen`)"
            ) from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ConfigError("a stored secret cannot be decrypted with the configured keys") from exc

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode()

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()
