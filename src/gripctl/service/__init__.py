"""The core's service API: one typed function per operation, under every face (CLI, web, CI).

Conventions, so that a face only parses, calls and renders:

- One module per area (`service.deploy`, `service.plan`, `service.runs`, ...). Each operation is one
  function that takes a typed request (a frozen dataclass, or plain keyword arguments for small ones)
  and returns a typed result (a dataclass with `to_dict()`, the JSON document the CLI prints with
  `-o json` and the HTTP API returns). Operations that touch the cluster are `async`; the rest are
  plain functions.
- Failures are `gripctl.errors.GripError` subclasses with a message an operator can act on.
- The service opens the ledger, builds adapters, wires incident and notification sinks; a face never
  does. A face passes in only what is its own: who is acting, an interactive confirm callback, and
  event sinks that render progress.
"""
