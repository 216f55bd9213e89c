"""adapters: the portal's ports over real technology (SQLAlchemy, SMTP, Stripe, Telr, files) and in memory."""
