"""Plugins that misbehave on purpose: the server must survive every one of them."""
