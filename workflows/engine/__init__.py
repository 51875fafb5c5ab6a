"""The approval engine every process shares: requests and their approvals, durable work and its hand-over,
the sweep, who people are and what roles they hold, replies, and the runtime workflows run against.

No module here imports a wing (access, offboarding, keys, tickets)."""
