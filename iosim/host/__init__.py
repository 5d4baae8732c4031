"""Measurements of the real host, for ``iosim calibrate`` and ``iosim validate``."""
