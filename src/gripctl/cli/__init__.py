"""CLI: the command-line face. Thin: parses arguments, calls services, renders output."""
