"""Resolvers, one module per domain; each only translates and calls a service."""
