"""Observe: reads the live world (helm releases, cluster objects) and never changes it."""
