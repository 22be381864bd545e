"""Speech synthesis backends (text -> samples)."""
from deepstory.speech.base import SpeechBackend, Voice
from deepstory.speech.espeak import EspeakSpeech

__all__ = ["EspeakSpeech", "SpeechBackend", "Voice"]
