"""The cassette file: its model, format, fast YAML, matching, stabilising and scrubbing (internal)."""
