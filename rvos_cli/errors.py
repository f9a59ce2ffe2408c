"""Errors that end a command with a documented exit code and one line of explanation.

The exit codes (also in `rvos --help`, README.md and docs/formats.md):

| code | meaning |
| --- | --- |
| 0 | success |
| 1 | unexpected internal error (a bug: run again with RVOS_DEBUG=1 for the traceback) |
| 2 | bad arguments or input |
| 3 | missing weights (the line gives the `rvos download` command) |
| 4 | download or verification failure |
| 5 | cannot write an output (full disk, permissions, read-only folder) |
| 6 | a batch finished, but some of its videos failed (each named on its own line) |
| 129 | hung up (SIGHUP) |
| 130 | interrupted (Ctrl-C, SIGINT) |
| 143 | terminated (SIGTERM) |

A signal is 128 + its number, as a shell reports it; partial outputs are removed first.
"""

import signal

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_MISSING_WEIGHTS = 3
EXIT_DOWNLOAD = 4
EXIT_OUTPUT = 5
EXIT_PARTIAL = 6
EXIT_HANGUP = 128 + signal.SIGHUP  # 129
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_INTERNAL: "unexpected internal error (RVOS_DEBUG=1 shows the traceback)",
    EXIT_BAD_INPUT: "bad arguments or input",
    EXIT_MISSING_WEIGHTS: "missing weights (run the `rvos download` command printed)",
    EXIT_DOWNLOAD: "download or verification failure",
    EXIT_OUTPUT: "cannot write an output (full disk, permissions)",
    EXIT_PARTIAL: "a batch finished but some of its videos failed",
    EXIT_HANGUP: "hung up (SIGHUP)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    EXIT_TERMINATED: "terminated (SIGTERM)",
}


class RvosError(Exception):
    """Base class: the message is one line naming the problem and what to do."""

    exit_code = EXIT_INTERNAL


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


class OutputError(RvosError):
    """An output could not be written (exit 5): the message names the path and the cause."""

    exit_code = EXIT_OUTPUT


def output_error(path, exc: OSError, what: str = "write") -> OutputError:
    """One line for an OSError on output: `cannot write PATH: No space left on device; ...`."""
    import errno

    cause = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        hint = "free some space or choose another output folder"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "choose a folder you can write to"
    else:
        hint = "check the disk or choose another output folder"
    return OutputError(f"cannot {what} {path}: {cause}; {hint}")


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread so that the command unwinds as on Ctrl-C.

    A KeyboardInterrupt, so everything that cleans up after Ctrl-C (atomic outputs, writer threads,
    ffmpeg) cleans up after these too; `exit_code` is 128 + the signal number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum
