"""Authentication (passwords, JWTs, API keys) and role-based permissions."""
