"""iosim: a discrete-event model of how Linux moves a file to a TCP socket.

    >>> import iosim
    >>> r = iosim.simulate("sendfile_sg", "1MiB", profile="teaching")
    >>> r.copies
    2.0
"""

from iosim._version import __version__
from iosim.config import ConfigError, Profile, Scenario, load_profile
from iosim.metrics import RESULT_FIELDS, Result
from iosim.paths import PATHS
from iosim.simulate import simulate
from iosim.sweep import sweep
from iosim.teach.animate import animate

__all__ = ["PATHS", "RESULT_FIELDS", "ConfigError", "Profile", "Result", "Scenario",
           "__version__", "animate", "load_profile", "simulate", "sweep"]
