"""Loading files that are pickles inside without running code from them: checkpoints and the FBM `.p` release.

A pickle can name any importable callable and call it while it loads, so a crafted file runs code. Both readers
here admit only an allowlist of what the format needs, and refuse anything else with one line naming the file and
the class it asked for:

- checkpoints (`.pth`, written by mmengine/torch.save): `torch.load(weights_only=True)` plus `CHECKPOINT_GLOBALS`:
  what mmengine's message hub stores (`HistoryBuffer` and its statistics methods) and numpy arrays, scalars and
  dtypes. `IMAGIN4D_TRUST_CHECKPOINTS=1` loads with `weights_only=False` (a checkpoint you trust that holds
  something else, e.g. from a plugin's hook).
- the FBM `.p` sequence files (joblib pickles): `load_joblib_restricted` admits numpy arrays, dtypes and scalars,
  plain containers and joblib's array wrapper (`FBM_GLOBALS`), nothing else.
"""
import os
import pickle

from imagin4d.utils.errors import CheckpointError, DataError

__all__ = ['CHECKPOINT_GLOBALS', 'FBM_GLOBALS', 'UnsafeFileError', 'load_checkpoint_file', 'load_joblib_restricted']

TRUST_ENV = 'IMAGIN4D_TRUST_CHECKPOINTS'

_NUMPY_CORE = ('numpy._core.multiarray', 'numpy.core.multiarray')
_NUMPY_NUMERIC = ('numpy._core.numeric', 'numpy.core.numeric')


class UnsafeFileError(CheckpointError, DataError):
    """A file that asks to load something its format never holds (a crafted or foreign pickle)."""


def _history_buffer_method(owner, name):
    """`getattr` as mmengine's checkpoints use it (`HistoryBuffer.<statistics method>`), and nothing else."""
    from mmengine.logging import HistoryBuffer
    allowed = {'min', 'max', 'mean', 'current', *getattr(HistoryBuffer, '_statistics_methods', {})}
    if owner is HistoryBuffer and name in allowed:
        return getattr(owner, name)
    raise pickle.UnpicklingError(f'getattr({getattr(owner, "__name__", owner)!r}, {name!r}) is not allowed')


def _numpy_dtype_classes() -> list:
    import numpy as np
    return [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith('DType')]


def checkpoint_globals() -> list:
    """What imagin4d and mmengine store in a checkpoint besides tensors, for `torch.serialization.safe_globals`
    (an entry `(function, 'module.name')` stands for that global)."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    entries = [HistoryBuffer, np.ndarray, np.dtype, *_numpy_dtype_classes(),
               (_history_buffer_method, 'builtins.getattr'), (_history_buffer_method, '__builtin__.getattr')]
    for module in _NUMPY_CORE:
        entries += [(np._core.multiarray._reconstruct, f'{module}._reconstruct'),
                    (np._core.multiarray.scalar, f'{module}.scalar')]
    return entries


#: Names (module.qualname) admitted in a checkpoint besides torch's own (see `checkpoint_globals`).
CHECKPOINT_GLOBALS = ('mmengine.logging.history_buffer.HistoryBuffer', 'builtins.getattr (HistoryBuffer methods)',
                      'numpy.ndarray', 'numpy.dtype', 'numpy.dtypes.*DType', 'numpy._core.multiarray._reconstruct',
                      'numpy._core.multiarray.scalar')


def load_checkpoint_file(filename: str, map_location=None):
    """`torch.load` a local checkpoint with `weights_only=True` and the allowlist; a file asking for anything else
    is refused (`UnsafeFileError`), an unreadable one is a `CheckpointError`; both name the file."""
    import torch
    filename = os.path.expanduser(os.fspath(filename))
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename} does not exist')
    trusted = os.environ.get(TRUST_ENV) == '1'
    try:
        with torch.serialization.safe_globals(checkpoint_globals()):
            return torch.load(filename, map_location=map_location, weights_only=not trusted)
    except pickle.UnpicklingError as err:
        text = str(err)
        if 'Weights only load failed' in text or 'Unsupported' in text or 'not allowed' in text:
            wanted = next((line.strip() for line in text.splitlines()
                           if 'Unsupported' in line or 'not allowed' in line), text.splitlines()[0])
            raise UnsafeFileError(
                f'{filename} was not loaded: it asks for something a checkpoint does not hold ({wanted[:200]}); '
                f'loading it could run code. Load only checkpoints you trust; for one you trust, set '
                f'{TRUST_ENV}=1') from None
        raise _unreadable(filename, err) from None
    except Exception as err:  # noqa: BLE001 - any other failure means the file is unusable
        raise _unreadable(filename, err) from None


def _unreadable(filename, err) -> CheckpointError:
    return CheckpointError(f'{filename} is not a readable checkpoint (torch.load failed: {type(err).__name__}: '
                           f'{str(err).splitlines()[0] if str(err) else ""}). Is the file truncated, or not a .pth '
                           'saved by imagin4d/mmengine?')


#: (module, name) pairs a FBM `.p` file (joblib.dump of {index: {field: array|str|number}}) may name.
FBM_GLOBALS = frozenset(
    [('joblib.numpy_pickle', 'NumpyArrayWrapper'), ('numpy', 'ndarray'), ('numpy', 'dtype'),
     ('builtins', 'dict'), ('builtins', 'list'), ('builtins', 'tuple'), ('builtins', 'set'),
     ('builtins', 'frozenset'), ('collections', 'OrderedDict'), ('_codecs', 'encode')]
    + [(m, n) for m in _NUMPY_CORE for n in ('_reconstruct', 'scalar')]
    + [(m, '_frombuffer') for m in _NUMPY_NUMERIC]
    + [('numpy.dtypes', n) for n in ('Float64DType', 'Float32DType', 'Float16DType', 'Int64DType', 'Int32DType',
                                     'Int16DType', 'Int8DType', 'UInt8DType', 'UInt16DType', 'UInt32DType',
                                     'UInt64DType', 'BoolDType', 'StrDType', 'BytesDType')])


def load_joblib_restricted(path: str):
    """Read a joblib pickle (uncompressed or compressed) admitting only `FBM_GLOBALS`; anything else is refused
    with `UnsafeFileError` naming the file and the class, before it is called."""
    from joblib import numpy_pickle

    class RestrictedUnpickler(numpy_pickle.NumpyUnpickler):
        def find_class(self, module, name):
            if module == '__builtin__':
                module = 'builtins'
            if (module, name) not in FBM_GLOBALS:
                raise UnsafeFileError(f'{path} was not loaded: it asks for {module}.{name}, which a FBM sequence '
                                      'file never holds (only numpy arrays and plain containers); loading it could '
                                      'run code. Use the official release or files you made yourself')
            return super().find_class(module, name)

    with open(path, 'rb') as raw:
        with numpy_pickle._validate_fileobject_and_memmap(raw, path, None) as (fobj, _):
            if isinstance(fobj, str):
                raise DataError(f'{path}: a joblib < 0.10 file (companion files); re-save it with a current joblib')
            try:
                return RestrictedUnpickler(path, fobj, ensure_native_byte_order=True).load()
            except UnsafeFileError:
                raise
            except (EOFError, pickle.UnpicklingError, ValueError, OSError) as err:
                raise DataError(f'{path} is not a readable sequence file ({type(err).__name__}: {err}); is it '
                                'truncated? Download or write it again') from None
