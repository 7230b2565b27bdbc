"""Reusable layers: the attention dispatch (and, later, AdaLN and Q-Former blocks)."""
from .attention_dispatch import AttentionBackend, attention, available_backends, get_backend

__all__ = ['AttentionBackend', 'attention', 'available_backends', 'get_backend']
