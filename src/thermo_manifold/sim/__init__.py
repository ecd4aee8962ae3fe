"""The simulator: run loops over the physics engine."""
