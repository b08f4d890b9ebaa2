"""Proof obligations, model checking and the verification report."""
