"""The portal's domain model: the business, its client companies and contacts, and what clients see."""
