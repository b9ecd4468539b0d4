"""The gateway: the public HTTP API of the kitcore demo, in front of user and book."""
