"""adapters: the portal's ports implemented over real technology (SQLAlchemy, SMTP, Stripe, Telr, files) and in memory."""
