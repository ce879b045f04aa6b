"""The kernels every stage shares: errors, partial dates, distinct-value codes over Arrow data, key order and --SEQ."""
