"""Duplicate detection: who a lead is, whom it matches, and where known people are stored.

Serving (the per-request check) and the build (the customers' entries) both import it; it imports
neither of them.
"""
