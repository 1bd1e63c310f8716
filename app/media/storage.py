"""Where the media files live: one small interface, a folder by default.

Keys are flat names like `3f9c…-640.webp` (a content hash, a width, a
format). A key is written whole or not at all (a temporary file renamed into
place), so a reader never sees half a file. Another backend (an object
store) needs the same four methods.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from flask import current_app

KEY_RE = re.compile(r"[0-9a-f]{16,64}-\d{1,5}\.(webp|jpg)", re.ASCII)


class Storage(Protocol):
    def save(self, key: str, data: bytes) -> None: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def path(self, key: str) -> Path | None: ...


def valid_key(key: str) -> bool:
    return KEY_RE.fullmatch(key) is not None


class FolderStorage:
    """Files in one folder (MEDIA_ROOT, default instance/media)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def _file(self, key: str) -> Path:
        if not valid_key(key):
            raise ValueError(f"not a media key: {key!r}")
        return self.root / key

    def save(self, key: str, data: bytes) -> None:
        target = self._file(key)
        self.root.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def exists(self, key: str) -> bool:
        return self._file(key).is_file()

    def delete(self, key: str) -> None:
        self._file(key).unlink(missing_ok=True)

    def path(self, key: str) -> Path | None:
        """The file of `key` on this disk, or None when there is none."""
        if not valid_key(key):
            return None
        file = self.root / key
        return file if file.is_file() else None


def storage() -> FolderStorage:
    """The app's media storage."""
    return FolderStorage(current_app.config["MEDIA_ROOT"])
