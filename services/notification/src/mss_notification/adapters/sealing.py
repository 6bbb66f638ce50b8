"""Webhook secrets sealed at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key is `MSS_WEBHOOK_KEY`, else the file `secrets/webhook-key` in the run dir, generated
once like the platform's other development secrets (exclusive create: two first starts
never write two keys).
"""

from __future__ import annotations

import os
import secrets

from cryptography.fernet import Fernet, InvalidToken

from mss_notification.config import NotificationSettings


def webhook_key(settings: NotificationSettings) -> bytes:
    if settings.webhook_key is not None:
        return settings.webhook_key.get_secret_value().encode()
    path = settings.secrets_dir / "webhook-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        draft.write_bytes(Fernet.generate_key())
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_bytes().strip()


class SecretSealer:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError("webhook secret sealed with another key") from exc
