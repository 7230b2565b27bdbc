"""`export_result`: every file of one generated sample, written with the exporters, with the time each took.

Owns the file names of a sample (`<stem>_smplx.npz`, `<stem>_object.npz`, `<stem>.bvh`, `<stem>.glb`,
`<stem>.mp4`) and which formats exist; the formats themselves are `imagin4d.apis.exporters`.
"""
import time
from typing import Dict, List, Sequence, Tuple

from .results import HOIResult

__all__ = ['export_result', 'EXPORT_FORMATS']

#: format -> the files it writes (suffixes of the sample's stem).
EXPORT_FORMATS = dict(npz=('_smplx.npz', '_object.npz'), bvh=('.bvh',), glb=('.glb',), mp4=('.mp4',))


def export_result(result: HOIResult, stem: str, formats: Sequence[str] = tuple(EXPORT_FORMATS),
                  reference_image=None) -> Tuple[List[str], Dict[str, float]]:
    """Write the chosen formats of one sample; returns (paths written, seconds per stage: export, video).

    reference_image: the picture shown beside the mesh in the video; None: the result's first reference image.
    """
    from . import exporters
    unknown = sorted(set(formats) - set(EXPORT_FORMATS))
    if unknown:
        raise ValueError(f'unknown export format(s) {unknown}; known: {list(EXPORT_FORMATS)}')
    written, times = [], dict(export=0.0)
    clock = time.perf_counter()
    if 'npz' in formats:
        written.append(str(exporters.write_smplx_npz(result, f'{stem}_smplx.npz')))
        written.append(str(exporters.write_object_npz(result, f'{stem}_object.npz', result.object_path)))
    if 'bvh' in formats:
        written.append(str(exporters.write_bvh(result, f'{stem}.bvh')))
    if 'glb' in formats:
        written.append(str(exporters.write_glb(result, f'{stem}.glb')))
    times['export'] = time.perf_counter() - clock
    if 'mp4' in formats:
        clock = time.perf_counter()
        if reference_image is None and result.reference_images:
            reference_image = result.reference_images[0]
        path, _ = exporters.render_result_video(result, f'{stem}.mp4', reference_image=reference_image,
                                      title=result.meta.get('text'))
        written.append(str(path))
        times['video'] = time.perf_counter() - clock
    return written, times
