"""Denoisers: `RoleAwareDenoiser` (x0-predicting motion transformer with role-aware AdaLN streams).

Importing this package registers it in `imagin4d.registry.MODELS`; its blocks live in `imagin4d.models.layers`.
"""
from .role_aware_denoiser import RoleAwareDenoiser

__all__ = ['RoleAwareDenoiser']
