"""Reconciliation: billing against the ERP (``compare``, ``daily``) and the legacy ERP
interface's flat-file export against the new postings (``legacy``). Pure functions over
pandas DataFrames and plain values; reading the systems is left to the callers."""
