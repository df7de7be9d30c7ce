"""Charge capture verification: the crosswalk of billable codes and the pure rules."""
