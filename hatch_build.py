"""Build hook: compiles the translation catalogs (.po, kept in the repository) into the .mo files gettext reads.

Runs on every build of the package, the editable install of `pip install -e .` included, so a fresh clone speaks
every language after the README's first command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

CATALOGS = Path("src/entrypoints/web/translations")


class CompileCatalogs(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in sorted((Path(self.root) / CATALOGS).glob("*/LC_MESSAGES/*.po")):
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parent.parent.name)
            mo = po.with_suffix(".mo")
            with mo.open("wb") as target:
                write_mo(target, catalog)
            if version != "editable":  # the wheel carries the compiled file (it is not in git)
                build_data["force_include"][str(mo)] = str(mo.relative_to(Path(self.root) / "src"))
