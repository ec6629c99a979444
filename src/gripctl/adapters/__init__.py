"""Adapters: thin typed wrappers around real tools (helm, kube API, sops/age, git, SMTP, HTTP)."""
