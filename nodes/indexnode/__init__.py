"""nodes/indexnode package."""
