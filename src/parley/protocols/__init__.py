"""Sans-I/O codecs: wire messages ⇄ core events. No sockets in here."""
