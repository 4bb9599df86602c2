"""Parsing each supported format, and every way a document can be refused."""

from __future__ import annotations

import io
import zipfile

import pytest

from parley.knowledge.parsing import (
    CorruptDocument,
    DocumentTooLarge,
    EmptyDocument,
    UnsupportedDocument,
    detect_kind,
    extract,
)
from parley.testing.documents import (
    faq_markdown,
    public_domain_text,
    returns_pdf,
    shipping_html,
    warranty_docx,
)


def test_markdown_headings_become_paths_and_the_single_h1_the_title() -> None:
    doc = faq_markdown()
    got = extract(doc.data, filename=doc.filename, content_type=doc.content_type)
    assert got.kind == "md"
    assert got.title == "Brightwave Kettles: Frequently Asked Questions"
    headings = [s.heading for s in got.sections]
    assert headings[0] == ""  # the introduction, before any heading
    assert "Using your kettle > Descaling" in headings
    assert "Warranty and support > Contacting support" in headings
    descaling = next(s for s in got.sections if s.heading.endswith("Descaling"))
    assert "15 grams of citric acid" in descaling.text
    assert "#" not in descaling.text


def test_markdown_fences_setext_and_many_top_headings() -> None:
    text = (
        "Install\n=======\n\nRun the installer.\n\n```\n# not a heading\n```\n\n"
        "Usage\n-----\n\nType *parley*.\n\n# Appendix\n\nMore."
    )
    got = extract(text.encode(), filename="guide.md", content_type=None)
    assert got.title is None  # two level-1 headings: neither is the title
    assert [s.heading for s in got.sections] == ["Install", "Install > Usage", "Appendix"]
    assert "# not a heading" in got.sections[0].text


def test_html_drops_scripts_styles_and_navigation() -> None:
    doc = shipping_html()
    got = extract(doc.data, filename=None, content_type=doc.content_type)
    assert got.kind == "html"
    assert got.title == "Shipping and Delivery"
    everything = "\n".join(s.text for s in got.sections)
    assert "do-not-index-this-script" not in everything
    assert "also-not-indexed" not in everything
    assert "font-family" not in everything
    assert "Basket menu" not in everything
    assert "free on orders over\n£60" in everything  # entities decoded, emphasis dropped
    assert "Delivery times > Express delivery" in [s.heading for s in got.sections]


def test_html_detected_without_a_name_or_type() -> None:
    assert detect_kind(b"<!DOCTYPE html><p>x</p>", filename=None, content_type=None) == "html"


def test_pdf_font_size_headings() -> None:
    doc = returns_pdf()
    got = extract(doc.data, filename=doc.filename, content_type=None)
    assert got.kind == "pdf"
    assert got.title == "Brightwave Returns and Refunds Policy"
    assert [s.heading for s in got.sections] == [
        "Return window",
        "Damaged or faulty on arrival",
        "Refunds",
        "Return shipping",  # on page 2
        "Exchanges",
        "Items that cannot be returned",
    ]
    refunds = got.sections[2].text
    assert "within 9 business days" in refunds
    assert "\n\nOpened kettles" in refunds  # the paragraph gap is kept


def test_pdf_without_larger_fonts_has_a_section_per_page() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    for words in ("first page text here", "second page text here"):
        pdf.add_page()
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 6, words)
    got = extract(bytes(pdf.output()), filename="plain.pdf", content_type=None)
    assert [s.heading for s in got.sections] == ["Page 1", "Page 2"]


def test_pdf_page_limit_is_an_error() -> None:
    doc = returns_pdf()
    with pytest.raises(DocumentTooLarge, match="has 2 pages, over the limit of 1"):
        extract(doc.data, filename="r.pdf", content_type=None, max_pages=1)


def test_pdf_with_only_images_is_empty() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 50, 50, style="F")
    with pytest.raises(EmptyDocument, match=r"scan\.pdf has no extractable text"):
        extract(bytes(pdf.output()), filename="scan.pdf", content_type=None)


def test_encrypted_pdf_is_refused() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(returns_pdf().data)).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(UnsupportedDocument, match=r"locked\.pdf is password-protected"):
        extract(out.getvalue(), filename="locked.pdf", content_type=None)


def test_truncated_pdf_is_corrupt() -> None:
    data = returns_pdf().data
    with pytest.raises(CorruptDocument, match=r"broken\.pdf"):
        extract(data[: len(data) // 3], filename="broken.pdf", content_type=None)


def test_docx_heading_styles_and_tables() -> None:
    doc = warranty_docx()
    got = extract(doc.data, filename=doc.filename, content_type=doc.content_type)
    assert got.kind == "docx"
    assert got.title == "Brightwave Warranty Terms"
    headings = [s.heading for s in got.sections]
    assert headings == [
        "",
        "What the warranty covers",
        "What the warranty does not cover",
        "Making a claim",
    ]
    assert "starts with BW- followed by eight digits" in got.sections[3].text
    assert "Nimbus | 2 years" in got.sections[3].text  # the table after the last heading


def test_corrupt_docx() -> None:
    data = bytearray(warranty_docx().data)
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        names = archive.namelist()
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        for name in names:
            archive.writestr(name, b"<not xml" if name == "word/document.xml" else b"")
    with pytest.raises(CorruptDocument, match=r"bad\.docx is not a readable Word document"):
        extract(broken.getvalue(), filename="bad.docx", content_type=None)


def test_public_domain_text_from_a_package() -> None:
    doc = public_domain_text()
    got = extract(doc.data, filename=doc.filename, content_type=doc.content_type)
    assert got.title == "Macbeth"
    assert got.chars > 90_000
    assert any("Out, damned spot!" in s.text for s in got.sections)


def test_plain_text_and_bom() -> None:
    got = extract(
        "\ufeffLine one.\r\n\r\n\r\n\r\nLine two.".encode(), filename="a.txt", content_type=None
    )
    assert got.kind == "txt"
    assert got.sections[0].text == "Line one.\n\nLine two."


def test_undecodable_text_is_refused_precisely() -> None:
    with pytest.raises(
        CorruptDocument, match=r"notes\.txt is not UTF-8 text \(byte 0xff at offset 6\)"
    ):
        extract(b"hello \xff\xfe there", filename="notes.txt", content_type=None)


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "message"),
    [
        (b"\x89PNG\r\n\x1a\n....", "photo.png", None, "photo.png is a PNG image"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1", "old.doc", None, "legacy Office file"),
        (b"some text", "sheet.xlsx", None, r"\.xlsx files are not supported"),
        (b"some text", "old.doc", None, r"legacy \.doc files are not supported"),
        (b"\x00\x01\x02binary", None, None, "binary file of unknown type"),
        (b"{}", None, "application/json", "content type application/json is not supported"),
    ],
)
def test_unsupported(
    data: bytes, filename: str | None, content_type: str | None, message: str
) -> None:
    with pytest.raises(UnsupportedDocument, match=message):
        extract(data, filename=filename, content_type=content_type)


def test_zip_that_is_not_a_word_document() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.txt", "x")
    with pytest.raises(UnsupportedDocument, match=r"bundle\.zip is a zip archive but not"):
        extract(archive.getvalue(), filename="bundle.zip", content_type=None)


def test_mislabelled_pdf_is_corrupt() -> None:
    with pytest.raises(CorruptDocument, match=r"fake\.pdf is not a valid PDF file"):
        extract(b"hello, I am text", filename="fake.pdf", content_type="application/pdf")


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"", "empty.txt"),
        (b"   \n\n  ", "blank.md"),
        (b"<html><script>x()</script></html>", "s.html"),
    ],
)
def test_empty_documents(data: bytes, filename: str) -> None:
    with pytest.raises(EmptyDocument, match=f"{filename} has no text to index"):
        extract(data, filename=filename, content_type=None)


def test_character_limit_is_an_error_not_a_truncation() -> None:
    with pytest.raises(DocumentTooLarge, match="over the limit of 1,000"):
        extract(b"word " * 1000, filename="long.txt", content_type=None, max_chars=1000)
