"""Docsite: the platform repository's documentation, built with MkDocs (Material, TechDocs-compatible).

`pages` generates the reference pages and runbooks from the platform, `svg` draws the dependency graph,
`site` builds and serves with MkDocs, `links` checks the built site's links offline, and `publish`
commits the built site to a branch of a git remote (gh-pages).
"""
