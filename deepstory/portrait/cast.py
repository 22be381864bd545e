"""The cast: the configured speakers' portraits and faces, found once per image and fitted once per size."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from omegaconf import DictConfig, OmegaConf

from deepstory.cache import Cache, digest, file_digest
from deepstory.errors import ImageError
from deepstory.files import read_json, write_json
from deepstory.portrait import Face, Portrait, speaker_images, speaker_portrait
from deepstory.portrait.image import FRAMING
from deepstory.portrait.speaker import _per_image

#: Names the face finder (deepstory.portrait.detect) in the keys of found faces; locate-3: a human face's mouth
#: and eyes from its face mesh (deepstory.portrait.mesh); locate-4: faces down to 1/20 of the image searched for
#: where the first search finds none the mesh confirms, and a cat's face where two of the cat cascades' votes agree.
FACE_FINDER = "locate-4"
#: The format of a found face's file (``{"speaker", "image", "face"}``), in its cache key: a face file of
#: another format (the bare landmarks of ``faces-1``) is never read as this one.
FACE_FILE = "faces-2"


#: ``speakers.<Name>.face.rest``'s values: ``auto`` (a photo whose mouth hangs open is shown closed), ``closed``
#: (always, where a face mesh is found), ``open`` (never).
RESTS = ("auto", "closed", "open")


def rest_setting(value: object, where: str) -> str:
    """``face.rest`` checked: one of :data:`RESTS` (``None``: ``auto``), else a one-line error naming ``where``."""
    value = "auto" if value is None else value
    if value not in RESTS:
        raise ImageError(f"{where}: {value!r} is not one of {', '.join(RESTS)}")
    return str(value)


class Closer(Protocol):
    """Shows a portrait at rest as ``face.rest`` says (:class:`deepstory.animate.rest.RestPose`): the portrait, and
    whether its lips were closed; ``version`` names how, in the keys of what is made from a closed one."""

    version: str

    def __call__(self, portrait: Portrait, rest: str) -> tuple[Portrait, bool]: ...


class Cast:
    """The configured speakers' portraits, fitted to any size with the face found (their voices are made by
    the speech stage, ``deepstory.speech.base.Voice``, from the same ``speakers`` config).

    Faces are found once per image; portraits are fitted once per size, framed as the layout's ``framing``
    says (``face``: a distant face's head and shoulders; ``image``: the whole image).  With a
    ``cache`` and a ``folder``, a found face is kept in the cache (kind
    ``faces``, keyed by the speaker, the image's bytes and the configured landmarks) and
    placed at ``folder/pKK-<image>.json`` (see :meth:`face_file`), so a re-run finds no face again.
    Speaker names never become paths: the file is named by the speaker's place in the
    speakers config, and the name is inside it.
    """

    def __init__(
        self,
        speakers: DictConfig,
        background: tuple[int, int, int],
        face_margin: float | None = None,
        cache: Cache | None = None,
        folder: Path | None = None,
        framing: str = "face",
        rest: Closer | None = None,
    ) -> None:
        self.config = speakers
        self.background = background
        self.face_margin = face_margin  # the layout's: keep faces whole in small tiles
        self.framing = framing  # the layout's: face (head and shoulders of a distant face) or image
        self.closer = rest  # closes a mouth the photo has open (deepstory.animate.rest); None: portraits as they are
        self.cache, self.folder = cache, folder
        self._portraits: dict[tuple, Portrait] = {}
        self._keys: dict[tuple, str] = {}
        self._faces: dict[tuple, Face] = {}
        self._closed: dict[tuple, bool] = {}

    @property
    def names(self) -> list[str]:
        return [str(n) for n in self.config]

    def face_file(self, speaker: str, image: int) -> str:
        """The name of the file of the speaker's ``image``-th face: ``pKK-<image>.json``, ``KK`` the speaker's
        place in the speakers config (from 00), never the name itself (any text, ``../x`` or ``/abs`` too)."""
        return f"p{self.names.index(speaker):02d}-{int(image)}.json"

    def images(self, speaker: str) -> list[str]:
        return speaker_images(self.config[speaker])

    def face(self, speaker: str, image: int = 0) -> Face:
        """The speaker's face landmarks in source-image pixels: configured values over detected ones."""
        if (speaker, image) not in self._faces:
            self.portrait(speaker, (64, 64), image)
        return self._faces[(speaker, image)]

    def portrait(self, speaker: str, size: tuple[int, int], image: int = 0) -> Portrait:
        """The speaker's ``image``-th portrait fitted to ``size``."""
        which = (speaker, tuple(size), image)
        if which not in self._portraits:
            if (speaker, image) not in self._faces:
                self._found_face(speaker, image)
            face, portrait = speaker_portrait(
                self.config[speaker],
                f"speakers.{speaker}",
                *size,
                index=image,
                background=self.background,
                face=self._faces.get((speaker, image)),
                face_margin=self.face_margin,
                framing=self.framing,
            )
            self._faces[(speaker, image)] = face
            # A mouth open in the photo is closed before it talks (deepstory.animate.rest).
            setting = self.rest(speaker, image)
            portrait, self._closed[which] = self.closer(portrait, setting) if self.closer else (portrait, False)
            self._portraits[which] = portrait
        return self._portraits[which]

    def rest(self, speaker: str, image: int = 0) -> str:
        """``speakers.<speaker>.face.rest`` for its ``image``-th image: ``auto``, ``closed`` or ``open``."""
        face = _per_image(self.config[speaker].get("face"), image)
        value = face.get("rest") if face is not None and hasattr(face, "get") else None
        suffix = f"[{image}]" if len(self.images(speaker)) > 1 else ""
        return rest_setting(value, f"speakers.{speaker}.face{suffix}.rest")

    def closed(self, speaker: str, size: tuple[int, int], image: int = 0) -> bool:
        """Whether the speaker's portrait at ``size`` is shown with the lips closed that its photo has open."""
        self.portrait(speaker, size, image)
        return self._closed[(speaker, tuple(size), image)]

    def _found_face(self, speaker: str, image: int) -> None:
        """The face of the speaker's ``image``-th image from the cache, found and kept there if missing."""
        if self.cache is None or self.folder is None:
            return
        path = self.images(speaker)[image]
        if not Path(path).is_file():
            return  # speaker_portrait names the missing image
        spec = OmegaConf.to_container(self.config[speaker], resolve=True)
        assert isinstance(spec, dict)
        out = Cache.output(
            "faces",
            self.folder / self.face_file(speaker, image),
            FACE_FINDER,
            FACE_FILE,
            file_digest(path),
            spec.get("face"),
            image,
            speaker,  # the name is inside the file: speakers sharing an image have a file each
        )

        def find(tmp: Path) -> None:
            face = speaker_portrait(
                self.config[speaker], f"speakers.{speaker}", 64, 64, index=image, background=self.background
            )[0]
            write_json(tmp, {"speaker": speaker, "image": image, "face": vars(face)})

        self.cache.get(out, find)
        self._faces[(speaker, image)] = Face.from_config(read_json(out.dest)["face"], f"{out.dest}")

    def portrait_key(self, speaker: str, size: tuple[int, int], image: int = 0) -> str:
        """Hash of everything that makes this speaker's fitted portrait."""
        which = (speaker, tuple(size), image)
        if which not in self._keys:
            spec = OmegaConf.to_container(self.config[speaker], resolve=True)
            assert isinstance(spec, dict)
            crop, mouths = spec.get("crop"), spec.get("mouths")
            self._keys[which] = digest(
                file_digest(self.images(speaker)[image]),
                _landmarks(self.face(speaker, image)),
                crop,
                image,
                list(size),
                *([] if self.face_margin is None else [self.face_margin]),  # single layout: keys as before
                *([] if self.framing == "image" else [FRAMING]),  # framing: image keys as before
                *([] if not mouths else [{k: file_digest(str(v)) for k, v in sorted(mouths.items())}]),
                # Its lips closed at rest (a cast without a closer shows every portrait as it is).
                *([self.closer.version] if self.closer and self.closed(speaker, size, image) else []),
            )
        return self._keys[which]


def _landmarks(face: Face) -> dict:
    """A face's values for a key: no mesh, no entry (the keys of faces without one are as they were)."""
    values = vars(face)
    return values if face.mesh is not None else {k: v for k, v in values.items() if k != "mesh"}
