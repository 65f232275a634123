"""Event buses Herald reads from (sources) and writes to (destinations): URL rules shared by both."""
