"""Pure metric math on numpy / torch arrays (no mmengine): motion, contact, waypoint, image adherence, distribution,
linear probes."""
from .distribution import *  # noqa: F401,F403
from .image_adherence import *  # noqa: F401,F403
from .interaction import *  # noqa: F401,F403
from .motion import *  # noqa: F401,F403
from .probe import *  # noqa: F401,F403
from .waypoints import *  # noqa: F401,F403
