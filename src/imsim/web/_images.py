"""Image bytes for the web app: upload checks, media types (thumbnails: collection/_thumbs.py)."""
from __future__ import annotations

import io

from fastapi import HTTPException

MEDIA_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg", ".png": "image/png",
    ".webp": "image/webp", ".bmp": "image/bmp", ".gif": "image/gif", ".tif": "image/tiff",
    ".tiff": "image/tiff",
}


def check_upload(data: bytes) -> tuple[int, int]:
    """(width, height) of an uploaded image, read from its header without decoding pixels.

    Raises HTTPException 415 when Pillow does not recognise the bytes as an image,
    413 when the image has more pixels than Pillow's decompression-bomb limit. Pillow
    itself only warns between that limit and twice it; a server holding several
    uploads at once refuses there already.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except Image.DecompressionBombError as exc:
        raise HTTPException(413, f"refused as a possible decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise HTTPException(415, f"the upload ({len(data):,} bytes) is not an image that Pillow "
                                 f"can decode (JPEG, PNG, WebP, BMP, GIF, TIFF)") from None
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types on bad headers
        raise HTTPException(415, f"the upload is not a readable image: {exc}") from None
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise HTTPException(413, f"refused as a possible decompression bomb: {width}x{height} = "
                                 f"{width * height:,} pixels, the limit is {limit:,}")
    return width, height
