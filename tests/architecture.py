"""An import-linter contract type this project adds (pyproject.toml, `contract_types`): an allowlist.

import-linter's own contracts forbid; this one permits. Every module of `source_modules` (and of their
descendants, less `except_modules` and theirs) may import only what `allowed_modules` names, by top-level package,
plus its own package and, with `allow_stdlib`, the standard library. So a new third-party import in the core fails
the build until someone decides it belongs in the allowlist, rather than passing until someone adds it to a list of
forbidden ones.
"""

from __future__ import annotations

import sys

import grimp
from importlinter import Contract, ContractCheck, fields, output


class AllowlistContract(Contract):
    type_name = "allowlist"

    source_modules = fields.ListField(subfield=fields.StringField())
    except_modules = fields.ListField(subfield=fields.StringField(), required=False, default=[])
    allowed_modules = fields.ListField(subfield=fields.StringField())
    allow_stdlib = fields.BooleanField(required=False, default=True)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        allowed = set(self.allowed_modules) | {"__future__"}  # type: ignore[call-overload]
        excepted = list(self.except_modules)  # type: ignore[call-overload]
        stdlib = bool(self.allow_stdlib) and sys.stdlib_module_names

        def excluded(module: str) -> bool:
            return any(module == e or module.startswith(e + ".") for e in excepted)

        violations = []
        for source in self.source_modules:  # type: ignore[attr-defined]
            if source not in graph.modules:
                raise ValueError(f"allowlist contract: {source} is not in the import graph")
            own = source.split(".")[0]
            for module in sorted({source} | graph.find_descendants(source)):
                if excluded(module):
                    continue
                for imported in sorted(graph.find_modules_directly_imported_by(module)):
                    top = imported.split(".")[0]
                    if top == own or top in allowed or (stdlib and top in stdlib):
                        continue
                    lines = sorted(d["line_number"] for d in graph.get_import_details(importer=module,
                                                                                        imported=imported))
                    violations.append({"importer": module, "imported": imported, "lines": lines})
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        allowed = ", ".join(sorted(self.allowed_modules))  # type: ignore[call-overload]
        for violation in check.metadata["violations"]:
            lines = ", ".join(f"l.{n}" for n in violation["lines"])
            output.print_error(f"{violation['importer']} imports {violation['imported']} ({lines}): not in the "
                               f"allowlist ({allowed}{', the standard library' if self.allow_stdlib else ''})",
                               bold=False)
            output.new_line()
