"""Wing: offboarding — the plan, the steps in every provider, the record in GitLab, the handover of data."""
