"""Subcommands of ``neural-ode-bench``: one module each (see :mod:`neural_ode.cli`)."""
