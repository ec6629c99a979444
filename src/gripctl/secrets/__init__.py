"""Secrets: SOPS + age workflows (init, edit, encrypt, rotate, updatekeys, check) over the sops adapter."""
