"""A plugin whose module kills the interpreter on import."""

import os

os._exit(7)
