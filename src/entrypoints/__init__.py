"""entrypoints: the portal command, the Flask web portal, and the composition root that wires adapters to the core."""
