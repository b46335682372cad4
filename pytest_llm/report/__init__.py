"""What a run reports: per-case payload, before/after comparison, the run report, output redaction (internal)."""
