"""Engine glue: hooks, metric sweeps, Runner set-up and the mini-FBM benchmark (`benchmark`) shared by the tools."""
from . import hooks  # noqa: F401
