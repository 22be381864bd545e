"""Portraits: images loaded safely, faces found (or configured), fitted to the size they are shown at."""

from deepstory.errors import FaceNotFound, ImageError
from deepstory.portrait.detect import locate
from deepstory.portrait.image import Face, Portrait, fit_portrait, load_image
from deepstory.portrait.speaker import speaker_face, speaker_image, speaker_images, speaker_portrait

__all__ = [
    "Face",
    "FaceNotFound",
    "ImageError",
    "Portrait",
    "fit_portrait",
    "load_image",
    "locate",
    "speaker_face",
    "speaker_image",
    "speaker_images",
    "speaker_portrait",
]
