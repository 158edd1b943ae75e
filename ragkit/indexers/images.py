"""Images (.png, .jpg, .tiff, ...): their text, recognised by OCR. Each frame
of a multi-page TIFF is a page, so citations say "scan.tiff p. 2"."""

from __future__ import annotations

import io
from pathlib import Path

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document, LoadContext

# Larger images are refused before they are decoded (a decompression bomb): 60
# megapixels is a letter page scanned at 900 dpi.
MAX_PIXELS = 60_000_000
MAX_FRAMES = 500


def add_ocr_text(writer: BlockWriter, text: str, page: int | None) -> None:
    for paragraph in text.split("\n\n"):
        writer.text(paragraph, page)


class ImageLoader:
    kind = "image"
    suffixes = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        if not data:
            raise DocumentError(str(path), "empty file")
        engine = ctx.ocr()  # before decoding: without an engine the reason is the install line
        from PIL import Image, ImageSequence, UnidentifiedImageError

        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        try:
            image = Image.open(io.BytesIO(data))
            frames = getattr(image, "n_frames", 1)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise DocumentError(str(path), f"corrupt or not an image ({exc.__class__.__name__})") from None
        except Image.DecompressionBombError:
            raise DocumentError(str(path), f"image larger than {MAX_PIXELS // 1_000_000} megapixels") from None
        writer = BlockWriter(path, self.kind)
        paged = frames > 1 and path.suffix.lower() in (".tif", ".tiff")
        try:
            for number, frame in enumerate(ImageSequence.Iterator(image), 1):
                if number > MAX_FRAMES or (number > 1 and not paged):
                    break
                ctx.progress(f"OCR page {number} of {frames}" if paged else "OCR")
                add_ocr_text(writer, engine.read(frame), number if paged else None)
                writer.doc.ocr_pages += 1
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            if not writer.doc.blocks:
                raise DocumentError(str(path), f"corrupt image ({exc.__class__.__name__}: {exc})") from None
        except Image.DecompressionBombError:
            raise DocumentError(str(path), f"image larger than {MAX_PIXELS // 1_000_000} megapixels") from None
        if not writer.doc.blocks:
            raise DocumentError(str(path), "no text found by OCR (a photo or a drawing?)")
        return writer.doc
