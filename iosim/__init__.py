"""iosim: a discrete-event model of how Linux moves a file to a TCP socket.

    >>> import iosim
    >>> r = iosim.simulate("sendfile_sg", "1MiB", profile="teaching")
    >>> r.copies
    2.0
"""

from iosim._version import __version__
from iosim.config import ConfigError, Profile, Scenario, load_profile
from iosim.paths import PATHS
from iosim.result import RESULT_FIELDS, Result
from iosim.server.result import ServerResult
from iosim.server.run import serve
from iosim.server.spec import ServeSpec
from iosim.simulate import replay, run, simulate
from iosim.sweep import sweep
from iosim.teach.animate import animate

__all__ = ["PATHS", "RESULT_FIELDS", "ConfigError", "Profile", "Result", "Scenario",
           "ServeSpec", "ServerResult", "__version__", "animate", "load_profile", "replay",
           "run", "serve", "simulate", "sweep"]
