"""The studio: a local web page over the same engine (``python -m deepstory.studio``; docs/studio.md).

Write or upload the story, cast the characters (portrait, face, voice, audition), start and watch renders
(the same ``python run.py ...`` command as by hand, in a subprocess), and compare them.  Needs the
``studio`` extra (``pip install -e ".[studio]"``); the render itself imports no web package.
"""
