"""gripctl: the deployment system of a Helm-based Kubernetes platform."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gripctl")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
