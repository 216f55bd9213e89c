"""Rows of one kind over a plain dict, keeping the SQL schema's rules: unique keys (Conflict) and updates of rows
that exist (RecordMissing). Each transaction works on its own copy of the dict (see unit_of_work.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable
from typing import Any, ClassVar, Generic, TypeVar

from portal_core.errors import Conflict, RecordMissing

T = TypeVar("T")
KeyOf = Callable[[Any], Hashable | None]


def slice_of(items: list[T], offset: int, limit: int | None) -> list[T]:
    return items[offset:] if limit is None else items[offset:offset + limit]


def _ref(item: Any) -> Hashable | None:
    return item.ref  # type: ignore[no-any-return]


class Rows(Generic[T]):
    """Rows keyed by id; copies in and out so callers never hold the stored object."""

    #: The unique keys besides the id, as the SQL schema declares them: (name, the key of a row or None for none).
    unique: ClassVar[tuple[tuple[str, KeyOf], ...]] = ()
    #: The name of the rows in messages ("no invoice x").
    kind: ClassVar[str] = "row"

    def __init__(self, rows: dict[str, T]) -> None:
        self._rows = rows
        self._index: dict[str, dict[Hashable, str]] | None = None  # per key: value -> id, built on first write

    def _taken(self) -> dict[str, dict[Hashable, str]]:
        if self._index is None:
            self._index = {name: {} for name, _ in self.unique}
            for key, row in self._rows.items():
                self._enter(key, row)
        return self._index

    def _enter(self, key: str, row: T) -> None:
        assert self._index is not None
        for name, key_of in self.unique:
            value = key_of(row)
            if value is not None:
                self._index[name][value] = key

    def _forget(self, key: str) -> None:
        row = self._rows.get(key)
        if row is None or self._index is None:
            return
        for name, key_of in self.unique:
            value = key_of(row)
            if value is not None and self._index[name].get(value) == key:
                del self._index[name][value]

    def _check_unique(self, key: str, item: T) -> None:
        taken = self._taken()
        for name, key_of in self.unique:
            value = key_of(item)
            if value is not None and taken[name].get(value, key) != key:
                raise Conflict(f"duplicate {self.kind} {name}")

    def add(self, item: T) -> None:
        key = item.id  # type: ignore[attr-defined]
        if key in self._rows:
            raise Conflict(f"duplicate {self.kind} id")
        self._check_unique(key, item)
        self._rows[key] = copy.deepcopy(item)
        self._enter(key, item)

    def update(self, item: T) -> None:
        key = item.id  # type: ignore[attr-defined]
        if key not in self._rows:
            raise RecordMissing(f"no {self.kind} {key}")
        self._check_unique(key, item)
        self._forget(key)
        self._rows[key] = copy.deepcopy(item)
        self._enter(key, item)

    def remove(self, key: str) -> None:
        self._forget(key)
        self._rows.pop(key, None)

    def get(self, key: str) -> T | None:
        item = self._rows.get(key)
        return copy.deepcopy(item) if item is not None else None

    def get_many(self, keys: list[str]) -> list[T]:
        return [copy.deepcopy(self._rows[k]) for k in dict.fromkeys(keys) if k in self._rows]

    def get_by_ref(self, ref: str) -> T | None:
        return self._first(lambda item: item.ref == ref)

    def _delete_where(self, dead: Callable[[T], bool]) -> int:
        """Deletes the rows that are `dead`; returns how many."""
        doomed = [key for key, row in self._rows.items() if dead(row)]
        for key in doomed:
            self.remove(key)
        return len(doomed)

    def _first(self, pred: Callable[[T], bool]) -> T | None:
        for item in self._rows.values():
            if pred(item):
                return copy.deepcopy(item)
        return None

    def _where(self, pred: Callable[[T], bool]) -> list[T]:
        return [copy.deepcopy(item) for item in self._rows.values() if pred(item)]


REF: tuple[tuple[str, KeyOf], ...] = (("ref", _ref),)
