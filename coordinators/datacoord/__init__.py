"""coordinators/datacoord package."""
