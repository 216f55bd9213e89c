"""Test kit for embedders: hypothesis strategies of consistent worlds and the repository contract suite.

Only test code imports this package; it needs the test extras (hypothesis, pytest), which the portal itself does not.
"""
