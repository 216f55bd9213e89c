"""Lists a page at a time: every client list (invoices, quotes, jobs, files, requests, ...) is read PAGE_SIZE rows
to a page, one row more to know whether a next page exists, and never past MAX_PAGE."""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs

T = TypeVar("T")

PAGE_SIZE = 25
# Past this page nothing is fetched: an absurd ?page= must not become an absurd OFFSET in the database.
MAX_PAGE = 10_000


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a list: its items, its 1-based number, and whether a next page exists."""

    items: tuple[T, ...]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def page_number(raw: object) -> int:
    """?page= as typed by anyone: a whole number of at least 1 in ASCII digits, else page 1. Other scripts' digits
    ("٣") and look-alikes that str.isdigit() accepts but int() refuses ("²") are page 1 too; a huge number is
    capped just past MAX_PAGE (an empty page, read without a query)."""
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()):
        return 1
    digits = text.lstrip("0")
    number = int(digits) if 0 < len(digits) <= 8 else (0 if not digits else MAX_PAGE + 1)
    return min(max(number, 1), MAX_PAGE + 1)


def window(number: int) -> tuple[int, int] | None:
    """The (offset, limit) to read page `number` with, one row more than is shown; None past MAX_PAGE (read
    nothing: the page is empty)."""
    if number > MAX_PAGE:
        return None
    return (max(number, 1) - 1) * PAGE_SIZE, PAGE_SIZE + 1


def page_of(rows: list[T], number: int) -> Page[T]:
    """The page shown from what window(number) read."""
    return Page(items=tuple(rows[:PAGE_SIZE]), number=number, has_next=len(rows) > PAGE_SIZE)
