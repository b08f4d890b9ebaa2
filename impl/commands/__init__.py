"""Subcommands of the ``baton`` CLI, one module each (see :mod:`baton.cli`)."""
