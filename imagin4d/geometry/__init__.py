"""Pure geometry math (batched torch, no mmengine): rotations, canonical frame, BPS, placement, contacts, the
depicted frame, SDF.

Owns the re-export of the public functions of `imagin4d.geometry.*`; import from here.
"""
from .bps import bps_encode, make_bps_basis, nearest_neighbors
from .canonical import (
                        CANONICAL_FORWARD,
                        CanonicalWindow,
                        apply_rigid,
                        body_heading,
                        canonical_transform,
                        canonicalize_window,
                        compose_rigid,
                        invert_rigid,
)
from .contacts import contact_labels, min_distance
from .depicted_frame import contact_centred_frame, contact_intervals, hand_contact, sample_depicted_frames
from .placement import place_object, sample_surface_points
from .rotations import (
                        axis_angle_to_matrix,
                        axis_angle_to_quaternion,
                        geodesic_distance,
                        matrix_to_axis_angle,
                        matrix_to_quaternion,
                        matrix_to_rotation_6d,
                        quaternion_to_axis_angle,
                        quaternion_to_matrix,
                        rotation_6d_to_matrix,
                        rotation_about_z,
                        skew_symmetric,
)
from .sdf import closest_point_on_triangle, penetration_depth, point_triangle_distance, signed_distance, winding_number

__all__ = [
    # rotations
    'axis_angle_to_matrix', 'matrix_to_axis_angle', 'quaternion_to_matrix', 'matrix_to_quaternion',
    'axis_angle_to_quaternion', 'quaternion_to_axis_angle', 'rotation_6d_to_matrix', 'matrix_to_rotation_6d',
    'geodesic_distance', 'rotation_about_z', 'skew_symmetric',
    # canonical frame
    'CANONICAL_FORWARD', 'body_heading', 'canonical_transform', 'apply_rigid', 'invert_rigid',
    'compose_rigid',
    'CanonicalWindow', 'canonicalize_window',
    # BPS
    'make_bps_basis', 'bps_encode', 'nearest_neighbors',
    # depicted frame
    'hand_contact', 'contact_intervals', 'contact_centred_frame', 'sample_depicted_frames',
    # placement, contacts, SDF
    'place_object', 'sample_surface_points', 'min_distance', 'contact_labels',
    'closest_point_on_triangle', 'point_triangle_distance', 'winding_number', 'signed_distance',
    'penetration_depth',
]
