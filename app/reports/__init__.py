"""Reports and generated documents (reportlab)."""
