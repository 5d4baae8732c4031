"""A server: many connections on many cores sharing one page cache, memory bus, disk and NIC.

``serve()`` (``run``) simulates it and returns a flat ``ServerResult``; ``ServeSpec`` holds
what it serves (``spec.make_spec`` validates raw inputs, ``spec.load_spec`` reads a TOML).
"""
