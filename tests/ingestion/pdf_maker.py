"""Writes small real PDF files (Helvetica text, one or more pages) for the PDF parser's tests, and the
hostile ones: pages that share one compressed content stream, a page whose stream inflates to a lot."""

from __future__ import annotations

import zlib

_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _text_ops(lines: list[str]) -> bytes:
    return ("BT /F1 12 Tf 14 TL 72 720 Td " + " ".join(f"({_escape(line)}) Tj T*" for line in lines) + " ET").encode(
        "latin-1"
    )


def _stream(body: bytes, flate: bool = False) -> bytes:
    data = zlib.compress(body, 9) if flate else body
    return (
        b"<< /Length "
        + str(len(data)).encode()
        + (b" /Filter /FlateDecode" if flate else b"")
        + b" >>\nstream\n"
        + data
        + b"\nendstream"
    )


def _page(content_id: int) -> bytes:
    return f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {content_id} 0 R >>".encode()


def _pages(page_ids: list[int]) -> bytes:
    return f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {len(page_ids)} >>".encode()


def _assemble(objects: list[bytes], info_id: int | None = None) -> bytes:
    """Objects numbered from 1 (1: the catalog), with the cross-reference table and trailer."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R" + (f" /Info {info_id} 0 R" if info_id else "") + " >>"
    out += f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """`pages`: the lines of text on each page."""
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", _pages(page_ids), _FONT]
    for i, lines in enumerate(pages):
        objects += [_page(page_ids[i] + 1), _stream(_text_ops(lines))]
    info_id = None
    if title:
        objects.append(f"<< /Title ({_escape(title)}) >>".encode("latin-1"))
        info_id = len(objects)
    return _assemble(objects, info_id)


def make_shared_stream_pdf(lines: list[str], pages: int) -> bytes:
    """`pages` pages that all draw one Flate-compressed content stream of `lines`: a few kilobytes
    whose text is repeated on every page."""
    page_ids = [5 + i for i in range(pages)]
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", _pages(page_ids), _FONT, _stream(_text_ops(lines), flate=True)]
    return _assemble(objects + [_page(4)] * pages)


def make_inflating_pdf(operations: bytes, repeat: int) -> bytes:
    """One page whose compressed content stream inflates to `operations` times `repeat`."""
    body = b"BT /F1 12 Tf " + operations * repeat + b" ET"
    return _assemble([b"<< /Type /Catalog /Pages 2 0 R >>", _pages([4]), _FONT, _page(5), _stream(body, flate=True)])
