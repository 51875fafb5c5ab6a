"""Wing: AWS access-key rotation — the scan for old keys, the preview, the rules, the rotation protocol,
retiring the old key, rollback."""
