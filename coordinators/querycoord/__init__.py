"""coordinators/querycoord package."""
