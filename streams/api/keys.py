"""API keys: who may use which door (scopes), read from a TOML file that holds hashes only.

A key is a random token (``new_key``); the file stores its SHA-256 (``hash_key``), its id
(what audit rows and logs name) and its scopes. SHA-256 without salt or stretching is
enough for random 256-bit tokens (nothing to guess from a dictionary); passwords would need
scrypt. Scopes: ``open311:write``, ``open311:read``, ``board:read``, ``desk:<department>``,
``verify:<supervisor id>``. The file (deploy/api_keys.example.toml)::

    [[keys]]
    id = "hotline-platform"
    sha256 = "<64 hex digits>"
    scopes = ["open311:write", "open311:read"]
"""

from __future__ import annotations

import hashlib
import re
import secrets
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ApiKey", "KeyError_", "KeyRing", "hash_key", "new_key"]

FIXED_SCOPES = frozenset({"open311:write", "open311:read", "board:read"})
_PARAMETRIC = re.compile(r"(desk|verify):[A-Za-z0-9._-]+")
_HEX = re.compile(r"[0-9a-f]{64}")
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class KeyError_(ValueError):
    """The keys file is invalid."""


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random key (43 url-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ApiKey:
    id: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


class KeyRing:
    """The known keys by hash; an empty ring knows no key (every request is 401)."""

    def __init__(self, keys: Iterable[tuple[str, ApiKey]] = ()) -> None:
        self.by_hash: dict[str, ApiKey] = {}
        for digest, key in keys:
            if digest in self.by_hash:
                raise KeyError_(f"keys {self.by_hash[digest].id} and {key.id} share a hash")
            self.by_hash[digest] = key
        ids = [k.id for k in self.by_hash.values()]
        if len(set(ids)) != len(ids):
            raise KeyError_("key ids must be unique")

    def __len__(self) -> int:
        return len(self.by_hash)

    @classmethod
    def load(cls, path: str | Path) -> KeyRing:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyError_(f"keys file {path}: {exc}") from exc
        return cls.from_text(text, str(path))

    @classmethod
    def from_text(cls, text: str, path: str = "(text)") -> KeyRing:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise KeyError_(f"keys file {path}: {exc}") from exc
        entries = data.get("keys", [])
        if not isinstance(entries, list):
            raise KeyError_(f"keys file {path}: 'keys' must be an array of tables")
        return cls(_entry(path, n, e) for n, e in enumerate(entries, 1))

    def authenticate(self, secret: str) -> ApiKey | None:
        """The key whose hash is ``secret``'s, or None."""
        return self.by_hash.get(hash_key(secret)) if secret else None

    def scopes(self) -> set[str]:
        return {s for k in self.by_hash.values() for s in k.scopes}


def _entry(path: str, n: int, entry: object) -> tuple[str, ApiKey]:
    where = f"keys file {path}, key #{n}"
    if not isinstance(entry, dict):
        raise KeyError_(f"{where}: not a table")
    key_id, digest, scopes = entry.get("id"), entry.get("sha256"), entry.get("scopes")
    if not isinstance(key_id, str) or not _ID.fullmatch(key_id):
        raise KeyError_(f"{where}: id must be 1-64 of [A-Za-z0-9._-]")
    if not isinstance(digest, str) or not _HEX.fullmatch(digest):
        raise KeyError_(f"{where} ({key_id}): sha256 must be 64 lower-case hex digits")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise KeyError_(f"{where} ({key_id}): scopes must be a list of strings")
    bad = [s for s in scopes if s not in FIXED_SCOPES and not _PARAMETRIC.fullmatch(s)]
    if bad:
        raise KeyError_(f"{where} ({key_id}): unknown scopes {bad}")
    unknown = set(entry) - {"id", "sha256", "scopes"}
    if unknown:
        raise KeyError_(f"{where} ({key_id}): unknown fields {sorted(unknown)}")
    return digest, ApiKey(key_id, frozenset(scopes))
