"""File contents kept in a dict by content hash."""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO

from portal_core.errors import StorageError


class InMemoryFileStorage:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, stream: BinaryIO) -> tuple[str, int]:
        data = stream.read()
        digest = hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return digest, len(data)

    def open(self, content_hash: str) -> BinaryIO:
        try:
            return io.BytesIO(self.blobs[content_hash])
        except KeyError:
            raise StorageError("the file's contents are missing from the store") from None
