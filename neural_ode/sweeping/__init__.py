"""Sweeping: presets, the plan of a sweep's cells, and the runner that measures each in a fresh process."""
