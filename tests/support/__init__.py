"""Test-only helpers: servers the tests start as child processes."""
