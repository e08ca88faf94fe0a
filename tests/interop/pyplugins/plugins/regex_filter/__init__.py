"""SearchReplacePlugin stand-in (see ../__init__.py)."""
