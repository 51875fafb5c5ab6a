"""Wing: AWS access-key rotation — the scan for old keys, the preview, the rotation protocol."""
