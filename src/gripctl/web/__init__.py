"""Web: the dashboard and HTTP API face (later). Thin, like the CLI."""
