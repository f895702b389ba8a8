"""The spaCy pipeline and its extractors (one module per capability, each a spaCy component)."""
