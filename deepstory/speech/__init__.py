"""Speech: text -> samples per sentence.  The interface is in ``base``; one module per engine beside it.

Engines are imported where they are configured (``_target_``), never here, so
a run loads only the engine it uses.
"""

from deepstory.speech.base import SpeechBackend, Voice

__all__ = ["SpeechBackend", "Voice"]
