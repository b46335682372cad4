"""Running a case against its cassette: interception, recording, timing, the per-case runner (internal)."""
