"""Wing: Okta group access, with and without approval, and its expiry."""
