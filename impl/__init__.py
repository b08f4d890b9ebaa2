"""Baton: explicit replica promotion for a single-writer, WAL-replicated database.

The runtime lives here (import ``baton``); the normative Z3 model is
:mod:`baton.spec` and the proofs are :mod:`baton.proofs`.
"""

__version__ = "0.1.0"
