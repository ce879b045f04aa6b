"""The raw EDC exports: read each file once, validate every row against its contract, cut at a data cut-off, and
check eligibility rules on the valid rows."""
