"""nodes/querynode package."""
