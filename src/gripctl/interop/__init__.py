"""Interop: translating between a gripctl platform and other tools' descriptions of it (helmfile).

Pure translation: it reads the files it is pointed at, never writes and never runs a program. The
service (`gripctl.service.interop`) loads platforms, decrypts secrets when asked, and writes the files.
"""
