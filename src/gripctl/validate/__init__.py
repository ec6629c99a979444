"""Validate: pre-deployment checks (lint, render, schema, yamllint, secret scan, policies) over the model."""
