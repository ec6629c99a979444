"""Observe: reads the live world (helm releases, cluster objects) and never changes it.

`snapshot` (observe + render a selection), `release.observe_release`, `render.render_desired`,
`cluster.check_cluster`; `types` holds what observe hands to plan. Import the module you need: this
package imports nothing, so that the light `types` does not pull in the Kubernetes client.
"""
