"""The normative model of Baton, as Z3 constraints.

This package is the single source of truth: the runtime's transition table is
generated from :mod:`baton.spec.lifecycle`, the runtime validator is proven
equal to :mod:`baton.spec.validation`, and the proofs in :mod:`baton.proofs`
range over :mod:`baton.spec.cluster`. It imports nothing but ``z3`` and the
standard library, and performs no I/O.

Invariants are declared once, in :mod:`baton.spec.invariants`, and referred
to everywhere else by their IDs (P6-A1 ...).
"""
