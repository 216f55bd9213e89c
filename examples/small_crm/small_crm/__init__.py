"""A small CRM with no column for the portal link token: the second embedding example (docs/embedding.md)."""
