"""Every error the renderer reports to a user, in two kinds.

* :class:`UserError` — something the user can fix in their input: a story, an
  image, a config value, a checkpoint.  One line, exit code 2.
* :class:`EnvironmentFailure` — the machine let the render down: ffmpeg failed,
  a package is missing, a worker cannot reach the cache.  One line, exit code 1.

Every module raises one of these (or a subclass defined here), so the command
line sorts them into exit codes by class alone (``deepstory.run.cli``).
Subclasses keep ``ValueError``/``RuntimeError`` as a second base where code
and tests already catch those.
"""

from __future__ import annotations


class DeepstoryError(Exception):
    """Base of every reported error; ``exit_code`` is what the command line exits with."""

    exit_code = 2


class UserError(DeepstoryError):
    """A problem with the user's input, phrased for the user (exit 2)."""

    exit_code = 2


class EnvironmentFailure(DeepstoryError):
    """A problem with the machine or its software, not with the input (exit 1)."""

    exit_code = 1


class StoryError(UserError, ValueError):
    """The story text or its speakers."""


class ImageError(UserError, ValueError):
    """An image that cannot be used."""


class FaceNotFound(ImageError):
    """No face in a portrait and not enough landmarks configured."""


class CheckpointError(UserError, ValueError):
    """A model file that is missing, unreadable or does not match the network."""


class MediaError(EnvironmentFailure, RuntimeError):
    """ffmpeg failed; the message carries its last stderr lines."""
