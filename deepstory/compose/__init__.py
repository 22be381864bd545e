"""The export: the story's audio, the video segments concatenated and muxed, subtitles."""
