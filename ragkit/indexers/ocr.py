"""OCR for pages and images without a text layer, with RapidOCR (PaddleOCR's
PP-OCR models on ONNX Runtime). Its detection and recognition models ship
inside the `rapidocr` wheel, so nothing is downloaded at run time; it is the
`ocr` extra: pip install 'ragkit[ocr]'."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from ragkit.errors import DocumentError

INSTALL_LINE = "pip install 'ragkit[ocr]'"
# Images are scaled so their longer side is at most this before recognition: a
# 600-dpi scan or a 48-megapixel photo gains nothing over it and costs seconds.
MAX_SIDE = 4000


class OcrEngine(Protocol):
    name: str

    def read(self, image: Any) -> str:
        """The text of a PIL image: lines in reading order, paragraphs split by blank lines."""
        ...


@dataclass(frozen=True)
class _Line:
    text: str
    top: float
    bottom: float
    left: float


def _layout(boxes: list[Any], texts: list[str]) -> str:
    """Recognised boxes to text: boxes on one baseline joined into a line, left to
    right; a vertical gap larger than a line's height starts a new paragraph."""
    items = []
    for box, text in zip(boxes, texts):
        if not text or not text.strip():
            continue
        ys = [float(p[1]) for p in box]
        xs = [float(p[0]) for p in box]
        items.append(_Line(text.strip(), min(ys), max(ys), min(xs)))
    items.sort(key=lambda i: (i.top + i.bottom) / 2)
    rows: list[list[_Line]] = []
    for item in items:
        if rows:
            last = rows[-1]
            mid = (item.top + item.bottom) / 2
            if last[0].top <= mid <= last[0].bottom:
                last.append(item)
                continue
        rows.append([item])
    out: list[str] = []
    previous: list[_Line] | None = None
    for row in rows:
        row.sort(key=lambda i: i.left)
        if previous is not None:
            height = max(i.bottom - i.top for i in previous)
            gap = min(i.top for i in row) - max(i.bottom for i in previous)
            if gap > 0.9 * height:
                out.append("")
        out.append(" ".join(i.text for i in row))
        previous = row
    return "\n".join(out)


class RapidOcrEngine:
    name = "rapidocr"

    def __init__(self, threads: int | None = None) -> None:
        from rapidocr import RapidOCR

        # No per-line angle classifier: it turned some upright lines of clean scans upside down (garbage
        # text); pages scanned upside down are rare, and a whole-page check would be the fix for them.
        params: dict[str, Any] = {"Global.log_level": "error", "Global.use_cls": False}
        if threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
        self._engine = RapidOCR(params=params)
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)

    def read(self, image: Any) -> str:
        import numpy as np

        image = image.convert("RGB")
        if max(image.size) > MAX_SIDE:
            image.thumbnail((MAX_SIDE, MAX_SIDE))
        result = self._engine(np.asarray(image))
        boxes = getattr(result, "boxes", None)
        texts = getattr(result, "txts", None)
        if boxes is None or texts is None:
            return ""
        return _layout(list(boxes), [str(t) for t in texts])


def ocr_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("rapidocr") is not None and importlib.util.find_spec("onnxruntime") is not None


def open_ocr_engine(mode: str = "auto", *, threads: int | None = None) -> OcrEngine:
    if mode == "off":
        raise DocumentError("", "needs OCR, which is turned off (ocr = off)")
    if not ocr_available():
        raise DocumentError("", f"needs OCR, and no OCR engine is installed: {INSTALL_LINE}")
    return RapidOcrEngine(threads=threads)
