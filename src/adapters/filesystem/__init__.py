"""File contents on the local filesystem, stored under their SHA-256 and written atomically."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

from portal_core.errors import StorageError

_HASH = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 16


class LocalFileStorage:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, content_hash: str) -> Path:
        if not _HASH.match(content_hash):
            raise StorageError("not a content hash")
        return self.root / content_hash[:2] / content_hash

    def put(self, stream: BinaryIO) -> tuple[str, int]:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            size = 0
            fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as tmp:
                    while chunk := stream.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        tmp.write(chunk)
                    tmp.flush()
                    os.fsync(tmp.fileno())
                target = self._path(digest.hexdigest())
                target.parent.mkdir(exist_ok=True)
                os.replace(tmp_name, target)  # atomic: readers see the whole file or none
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(f"could not store the file ({exc.strerror})") from exc
        return digest.hexdigest(), size

    def open(self, content_hash: str) -> BinaryIO:
        try:
            return self._path(content_hash).open("rb")
        except FileNotFoundError:
            raise StorageError("the file's contents are missing from the store") from None
        except OSError as exc:
            raise StorageError(f"could not read the file ({exc.strerror})") from exc
