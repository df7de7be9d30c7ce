"""Intake forms: reading the source (fillable PDF, text PDF, plain text; scans are kept for
manual entry), deterministic extraction of labelled values, and the comparison with the
patient's record. Grounding and model phrasing happen in the workflow layer."""
