"""nodes/datanode package."""
