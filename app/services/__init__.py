"""Use cases: the only door to the vault. Every call takes the acting Session, checks the
permission matrix and writes its audit row in the same transaction as its change."""
