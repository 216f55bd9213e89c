"""A worked example: the client portal served over an existing CRM's database, read-only (docs/embedding.md)."""
