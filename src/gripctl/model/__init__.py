"""Model: the platform as typed data, loaded from gripctl.yaml and the ops/ tree; reads files only."""
