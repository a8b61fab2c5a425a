"""The web server's limits, in one place: ``create_app``, ``imsim serve`` (its option
defaults and help), the request guard, the API's schemas and what ``/api/health`` tells
the page all take them from here. A leaf module: it imports nothing, so the CLI reads
it without loading FastAPI.

``MAX_UPLOAD_MB``: the largest upload, MiB (a camera JPEG is 3-15 MB; a phone's 50 MP
PNG about 60 MB). ``MAX_PIXELS``: the most pixels decoded from an upload or a photo (a
50 MP phone camera). ``DECODE_MEMORY_MB``: MiB of decoded rasters held at once by all
requests together. The first three are ``imsim serve`` options; the rest are fixed.
"""
MAX_UPLOAD_MB = 32.0
MAX_PIXELS = 50_000_000
DECODE_MEMORY_MB = 512.0

MAX_N = 100  # results per search (the page's "Results" field is capped by /api/health's max_n)
MAX_LIST = 500  # images per listing page
BODY_SLACK = 64 * 1024  # bytes of multipart boundaries, part headers and small fields beside the image
BODY_TIMEOUT = 60.0  # seconds a client has to send a whole request body
MAX_FIELDS = 8  # form fields of a search request (it has 5)
