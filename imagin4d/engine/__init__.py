"""Engine glue: hooks, metric sweeps and Runner set-up shared by the tools."""
from . import hooks  # noqa: F401
