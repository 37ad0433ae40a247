"""coordinators package."""
