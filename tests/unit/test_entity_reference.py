"""docs/entities.md is what scripts/entity_reference.py makes of the attrs classes as they are now."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "entity_reference.py"


def test_the_entity_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("entity_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.render()
    assert "| `link_token` | `str` | **required** |" in text and "`str \\| None`" in text
    assert module.OUT.read_text() == text, "docs/entities.md is out of date: run python scripts/entity_reference.py"
