"""Exception types for errors caused by user input; the tools print these as one clear line."""


class UserError(Exception):
    """Bad input from the user (a path, a flag, a config value); the message says what was expected."""


class CheckpointError(UserError, RuntimeError):
    """A checkpoint file that cannot be read: names the file."""


class DataError(UserError, ValueError):
    """A data file with a missing/malformed field: names the file, the sequence and the field."""


class TrainingDivergedError(UserError, FloatingPointError):
    """A non-finite loss or weight during training: names the iteration, the batch's samples and the last good
    checkpoint."""
