"""Run-wide configuration: command line, ini values and environment, validated once (internal)."""
