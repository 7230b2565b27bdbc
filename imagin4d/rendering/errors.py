"""The error raised for input the renderer cannot turn into a reference image.

Owns `RenderError`: a missing or malformed mesh, or a camera that sees neither body nor object. The message
names the sequence and the depicted frame, so a bad training sample is found at once.
"""
from imagin4d.utils.errors import DataError

__all__ = ['RenderError']


class RenderError(DataError):
    """Raised instead of ever returning a blank image; the message names the sequence and frame."""
