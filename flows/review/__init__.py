"""summary.html, the safety review by dose level: the safety tables, the dose-escalation picture and the
eligibility section."""
