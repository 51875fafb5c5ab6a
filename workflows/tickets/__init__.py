"""Wing: IT requests filed into GitLab — triage, filing, escalation, and the sync back from GitLab."""
