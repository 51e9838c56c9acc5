"""Plugins: installed packages that add evaluators (later providers and datasets).

``api`` is what plugin authors implement; the rest runs plugins outside the
server process (``worker``, ``process``), finds them (``discovery``) and serves
them to every transport (``service``).
"""
