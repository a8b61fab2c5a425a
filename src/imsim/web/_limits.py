"""The web server's default limits, in one place (``imsim serve`` shows the same defaults).

``MAX_UPLOAD_MB``: the largest upload, MiB (a camera JPEG is 3-15 MB; a phone's 50 MP
PNG about 60 MB). ``MAX_PIXELS``: the most pixels decoded from an upload or a photo (a
50 MP phone camera). ``DECODE_MEMORY_MB``: MiB of decoded rasters held at once by all
requests together.
"""
MAX_UPLOAD_MB = 32.0
MAX_PIXELS = 50_000_000
DECODE_MEMORY_MB = 512.0
