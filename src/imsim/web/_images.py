"""Image bytes for the web app: upload checks, thumbnails, media types."""
from __future__ import annotations

import io

from fastapi import HTTPException

from ..datasets.folder import load_image

THUMB_PX = 256  # longest side of a thumbnail (tiles show about 150 CSS px, sharp at 2x)
_LOSSLESS_PX = 128 * 128  # thumbnails this small are PNG (JPEG smears tiny images)

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


def thumbnail_size(width: int, height: int, max_side: int = THUMB_PX) -> tuple[int, int]:
    """(width, height) scaled so the longest side is at most ``max_side``; never enlarged."""
    scale = min(1.0, max_side / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def make_thumbnail(path, width: int, height: int) -> tuple[bytes, str]:
    """Encoded thumbnail of the photo at ``path`` whose upright size is ``width`` x ``height``.

    Returns (bytes, media type). Raises ValueError when the file cannot be read.
    """
    from PIL import Image

    size = thumbnail_size(width, height)
    pixels = load_image(path, size=size, color=True)
    buf = io.BytesIO()
    if size[0] * size[1] <= _LOSSLESS_PX:
        Image.fromarray(pixels).save(buf, format="PNG", optimize=False)
        return buf.getvalue(), "image/png"
    Image.fromarray(pixels).save(buf, format="JPEG", quality=85)
    return buf.getvalue(), "image/jpeg"
