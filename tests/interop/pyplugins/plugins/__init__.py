"""Test-only stand-ins for upstream ContextForge's `plugins/` folder, which neither the 1.0.0 wheel nor cpex ships.

They live at the same dotted paths as upstream (`plugins.regex_filter.search_replace.SearchReplacePlugin`,
`plugins.deny_filter.deny.DenyListPlugin`), so one server YAML drives both the Python runtime and
`plugwire serve` (which accepts the Python kind paths for its built-ins).
"""
