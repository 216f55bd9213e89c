"""The languages the portal speaks, and how a reader's language is chosen.

A contact's saved choice wins; else the language the browser prefers among ours; else the business's default."""

from __future__ import annotations

from collections.abc import Sequence

from portal_core.errors import InvalidInput

SUPPORTED = ("en", "ar")
DEFAULT = "en"
RIGHT_TO_LEFT = frozenset({"ar"})


def parse_language(value: object) -> str:
    """'ar' for 'ar', ' AR '; InvalidInput for anything the portal does not speak."""
    code = str(value).strip().lower() if isinstance(value, str) else ""
    if code not in SUPPORTED:
        raise InvalidInput(f"unsupported language {value!r} (expected one of: {', '.join(SUPPORTED)})")
    return code


def optional_language(value: object) -> str | None:
    """For an attribute that may be unset: None or '' stays None, anything else must be supported."""
    return None if value is None or value == "" else parse_language(value)


def direction(language: str) -> str:
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


def choose(saved: str | None, preferred: Sequence[str], default: str) -> str:
    """The reader's language: the saved choice, else the first of the browser's preferences we speak (`preferred`,
    best first, as Accept-Language ranks them), else the business's default."""
    return chosen(saved, preferred) or (default if default in SUPPORTED else DEFAULT)


def chosen(saved: str | None, preferred: Sequence[str]) -> str | None:
    """What choose() picks before the business's default: the saved choice or a browser preference we speak."""
    if saved in SUPPORTED:
        return saved
    for tag in preferred:
        code = tag.split("-")[0].split("_")[0].strip().lower()
        if code in SUPPORTED:
            return code
    return None


def for_reader(saved: str | None, default: str, page: str | None = None) -> str:
    """The language of what one reader is sent (a mail, a PDF): their saved choice, else the language of the page they
    asked from, else the business's default."""
    return choose(saved, [page] if page else [], default)
