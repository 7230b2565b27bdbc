"""Training losses of the HOI diffusion model (pure tensor functions; the model weights and logs them)."""
from .hoi_losses import (  # noqa: F401
                         FK_LOSS_JOINTS,
                         binary_contact_loss,
                         fk_joint_loss,
                         frame_masked_mean,
                         object_surface_loss,
                         place_object_points,
                         reconstruction_loss,
)
