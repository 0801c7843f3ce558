"""The law's error beyond the data: one protocol for every kind of discrepancy."""
