"""The report's pages: report.md and report.html from the tables and figures (``render``, jinja2 templates)."""
