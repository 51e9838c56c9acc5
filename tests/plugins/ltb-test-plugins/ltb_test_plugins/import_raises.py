"""A plugin whose module raises on import."""

raise RuntimeError("this plugin cannot be imported")
