"""Preventive care gaps: declarative rules (resources/care_gaps/*.yaml) evaluated on a
patient's clinical records (pure: no vault, no Qt)."""
