"""The imagin4d version string, and the mmengine range the package is tested against."""
__version__ = '0.1.0'
MMENGINE_MIN = '0.10.7'
MMENGINE_MAX = '0.11.0'  # exclusive
