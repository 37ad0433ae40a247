"""coordinators/rootcoord package."""
