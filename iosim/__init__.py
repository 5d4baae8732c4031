"""iosim: a discrete-event model of how Linux moves a file to a TCP socket.

    >>> import iosim
    >>> r = iosim.simulate("sendfile_sg", "1MiB", profile="teaching")
    >>> r.copies
    2.0
"""

__version__ = "0.1.0"  # before the imports: iosim.sweep keys stored runs by it

from iosim.config import ConfigError, Profile, Scenario, load_profile
from iosim.metrics import RESULT_FIELDS, Result
from iosim.paths import PATHS
from iosim.simulate import simulate
from iosim.sweep import sweep

__all__ = ["PATHS", "RESULT_FIELDS", "ConfigError", "Profile", "Result", "Scenario",
           "load_profile", "simulate", "sweep"]
