"""Test support shared by the suites: a real SMTP server on loopback and a portal app builder."""
