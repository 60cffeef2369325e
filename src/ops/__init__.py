"""Operator tools that drive the whole service from outside a request: checking that a backup restores."""
