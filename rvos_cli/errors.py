"""Errors that end a command with a documented exit code and one line of explanation."""

EXIT_BAD_INPUT = 2
EXIT_MISSING_WEIGHTS = 3
EXIT_DOWNLOAD = 4
EXIT_INTERRUPTED = 130


class RvosError(Exception):
    """Base class: the message is one line naming the problem and what to do."""

    exit_code = 1


class InputError(RvosError):
    """Bad arguments or unusable input files (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class CheckpointError(InputError):
    """A weights file that is not the expected checkpoint (exit 2)."""


class MissingWeightsError(RvosError):
    """Weights are not installed (exit 3); the message names the `rvos download` command."""

    exit_code = EXIT_MISSING_WEIGHTS


class DownloadError(RvosError):
    """A download or its verification failed (exit 4)."""

    exit_code = EXIT_DOWNLOAD
