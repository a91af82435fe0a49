"""A pass-cache under build/.cache: a template whose bytes (plus the checker's
version and settings) already passed a check is not checked again."""

from __future__ import annotations

import hashlib
from pathlib import Path


class PassCache:
    def __init__(self, directory: Path, salt: str) -> None:
        self.directory = directory
        self.salt = salt

    def key(self, text: str) -> str:
        return hashlib.sha256((self.salt + "\0" + text).encode()).hexdigest()

    def passed(self, text: str) -> bool:
        return (self.directory / self.key(text)).exists()

    def record(self, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / self.key(text)).touch()
