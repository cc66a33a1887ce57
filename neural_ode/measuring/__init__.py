"""Measuring one cell: the core every front end calls, and its instruments (counts, memory, time, reference)."""
