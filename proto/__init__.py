"""Protocol buffer definitions and the generated Python code."""
