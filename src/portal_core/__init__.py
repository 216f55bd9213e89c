"""portal_core: the pure domain of the client portal (models, access policy, ports and use cases)."""
