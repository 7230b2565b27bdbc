"""Window assembly of the HOI data sets: a light window index -> every array a sample needs, in its canonical frame.

Owns `WindowAssemblyMixin` (mixed into `BaseHOIDataset`): the canonical frame of a window, its codec features, the
CHOIS waypoint mask and values, the BPS of the object at one frame, the canonical body-model parameters, and the
per-frame meshes of an assembled window (`frame_geometry`). It reads the dataset's cache arrays, objects, BPS
basis, codec and body models; conventions: docs/conventions.md.
"""

import copy

import numpy as np
import torch

from imagin4d.geometry import (
    axis_angle_to_matrix,
    canonicalize_window,
    matrix_to_axis_angle,
    place_object,
    rotation_6d_to_matrix,
)
from imagin4d.geometry.depicted_frame import contact_centred_frame

from .preprocessing import placed_object_bps, template_tree

__all__ = ['WindowAssemblyMixin']


class WindowAssemblyMixin:
    """`assemble_window`, `frame_geometry` and their helpers, for `BaseHOIDataset` (see its attributes)."""

    def sequence_info(self, seq_idx: int) -> dict:
        return copy.deepcopy(self._sequences[seq_idx])

    def object_template(self, name: str) -> dict:
        """{'verts': (V, 3), 'faces': (F, 3), 'centroid': (3,)} of an object used by this split."""
        return self._objects[name]

    def _kdtree(self, name: str):
        """k-d tree over an object's template vertices (built lazily, once per process)."""
        trees = self.__dict__.setdefault('_kdtrees', {})
        if name not in trees:
            trees[name] = template_tree(self._objects[name]['verts'])
        return trees[name]

    def frame_geometry(self, window: dict, frame: int) -> dict:
        """Meshes of one frame of an assembled window (`assemble_window` output), in its canonical frame.

        Returns body_verts (V, 3), body_faces (F, 3), obj_verts (U, 3), obj_faces (G, 3) as float64/int64
        numpy arrays, and joints24 (24, 3) of the body model at that frame (equal to the window's joints).
        """
        gender, params = window['gender'], window['smpl_params']
        body = self._body_model(gender)
        poses = {k: torch.as_tensor(v[frame:frame + 1], dtype=torch.float32) for k, v in params.items()
                 if k != 'betas'}
        with torch.no_grad():
            out = body(betas=self._model_betas(gender, np.asarray(params['betas'])), **poses)
        obj = self._objects[window['object_name']]
        obj_verts = place_object(torch.as_tensor(obj['verts'], dtype=torch.float64),
                                 float(window['obj_scale'][frame]),
                                 torch.as_tensor(window['obj_rot'][frame:frame + 1], dtype=torch.float64),
                                 torch.as_tensor(window['obj_trans'][frame:frame + 1], dtype=torch.float64))[0]
        return dict(body_verts=out['vertices'][0].double().numpy(), body_faces=np.asarray(body.faces, np.int64),
                    obj_verts=obj_verts.numpy(), obj_faces=np.asarray(obj['faces'], np.int64),
                    joints24=out['joints24'][0].double().numpy())

    def _pick_bps_frame(self) -> int:
        if self.bps_frame == 'random':
            return int(np.random.randint(self.window))
        if self.bps_frame == 'first':
            return 0
        if self.bps_frame == 'middle':
            return self.window // 2
        return int(self.bps_frame) % self.window

    def assemble_window(self, info: dict) -> dict:
        """Light window info (seq_idx, window_start) -> every array of the sample (see class docstring).

        Keys: motion (W, D), waypoint_mask (W, D) bool, waypoint_values (W, D), bps (N, 3), contacts (W, 4),
        text, t_star (contact-centred), obj_rot / obj_trans (W, 3, 3) / (W, 3) absolute canonical pose,
        obj_scale (W,), obj_ref_rot (3, 3), template_centroid (3,), object_verts (V, 3) / object_faces (F, 3)
        (the template mesh: vertices at frame t = scale_t R_t (v - centroid) + obj_com_t), rest_joints24 (24, 3)
        (the subject's rest skeleton, for forward kinematics of predicted rotations),
        smpl_params (canonical body parameters),
        data_root (for paths written relative to it) and the metainfo keys of HOIDataSample.
        """
        seq = self._sequences[info['seq_idx']]
        start, W = info['window_start'], self.window
        a, b = seq['offset'] + start, seq['offset'] + start + W
        arr = self._frame_arrays()
        take = {k: torch.from_numpy(np.array(v[a:b])) for k, v in arr.items()}
        obj = self._objects[seq['object_name']]
        global_rot = rotation_6d_to_matrix(take['global_rot6d'])
        cw = canonicalize_window(take['joints24'], take['obj_trans'], take['obj_rot'], root_rot=global_rot)
        scale = take['obj_scale']
        centroid = torch.from_numpy(obj['centroid']).float()
        com = self.codec.object_centre(cw.obj_rot, cw.obj_trans, scale, centroid)
        f = self._pick_bps_frame()
        ref_rot = cw.obj_rot[f]
        contacts = take['contacts'].float()
        motion = self.codec.encode(com, self.codec.relative_rotation(cw.obj_rot, ref_rot), cw.joints,
                                   cw.root_rot, contacts)
        mask = self.codec.waypoint_mask(W, self.waypoint_frames, first_frame_human=self.first_frame_human)
        if self.normalize:
            motion = self.codec.normalize(motion)
        values = motion * mask
        bps = torch.from_numpy(placed_object_bps(self._kdtree(seq['object_name']), obj['verts'], float(scale[f]),
                                                 cw.obj_rot[f].numpy(), cw.obj_trans[f].numpy(), com[f].numpy(),
                                                 self._bps_basis.numpy()))
        # canonical body-model parameters (rotation about the root joint: transl' = R (transl + r0) + t - r0)
        R, t = cw.R.float(), cw.t.float()
        pose = take['pose']
        r0 = torch.as_tensor(seq['rest_root'], dtype=torch.float32)
        smpl_params = dict(global_orient=matrix_to_axis_angle(R @ axis_angle_to_matrix(pose[:, :3])),
                           body_pose=pose[:, 3:66], transl=(take['transl'] + r0) @ R.T + t - r0,
                           betas=torch.as_tensor(seq['betas'], dtype=torch.float32))
        if pose.shape[1] >= 156:
            smpl_params.update(left_hand_pose=pose[:, 66:111], right_hand_pose=pose[:, 111:156])
        return dict(
            motion=motion.float(), waypoint_mask=mask, waypoint_values=values.float(), bps=bps.float(),
            contacts=contacts, text=seq['text'], t_star=contact_centred_frame(contacts.numpy()),
            obj_rot=cw.obj_rot, obj_trans=cw.obj_trans, obj_scale=scale, obj_ref_rot=ref_rot,
            template_centroid=centroid, rest_joints24=torch.as_tensor(seq['rest_joints24'], dtype=torch.float32),
            object_verts=torch.from_numpy(obj['verts']).float(),
            object_faces=torch.from_numpy(obj['faces'].astype(np.int64)),
            smpl_params=smpl_params, normalized=self.normalize,
            seq_name=seq['seq_name'], window_start=start, window_len=W, seq_len=W,
            object_name=seq['object_name'], subject=seq['subject'], gender=seq['gender'], fps=self.FPS,
            dataset=self.DATASET_NAME, data_root=self.data_root, split=self.split, bps_frame=f,
            canonical_R=cw.R.tolist(), canonical_t=cw.t.tolist(), sample_idx=info.get('sample_idx'),
        )

