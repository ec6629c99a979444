"""Helmfile interop: a platform as the helmfile state that deploys the same thing, and back.

`export_helmfile` turns loaded platforms (one per environment) into a helmfile v1 state file plus the
small values files it needs for secrets; `import_helmfile` turns a helmfile state file into a
gripctl.yaml (and the values files its inline values become). Both are pure: they read the files they
are pointed at and return what to write (`PlannedFile`s); `gripctl.service.interop` writes them. What
one side cannot say in the other's terms is returned as a `Gap` with its file:line, never dropped
silently. The mapping is documented in docs/helmfile.md.

Facts about helmfile v1 this relies on (checked against its source, pkg/state):
- a state file is rendered as a Go template only when its name ends in `.gotmpl`; release fields
  (name, namespace, chart, labels, values/secrets paths, needs) are rendered once more per release;
- a release's helm arguments are `--values` for each `values:` entry in order, then each decrypted
  `secrets:` entry, then `--set` for each `set:` entry, with `,` `{` `}` in set names and values escaped;
- a values file whose name ends in `.gotmpl` is rendered (with `exec` running in that file's folder);
- `needs:` entries are matched against `[kubecontext/][namespace/]name` where kubecontext is the
  release's own `kubeContext:` or `helmDefaults.kubeContext` (an environment's `kubeContext` only
  picks helm's `--kube-context`), so `namespace/name` is the form for releases with a namespace;
- unknown keys are an error (strict decoding), and `name`, `namespace`, `chart` are built-in labels;
- `environments:` and `releases:` may not share a YAML part: they are separated by `---`.
"""

from gripctl.interop.helmfile.common import MARKER, Gap, PlannedFile, is_ours
from gripctl.interop.helmfile.export import SECRETS_DIR, HelmfileExport, SecretsMode, export_helmfile
from gripctl.interop.helmfile.imports import (
    IMPORT_MARKER,
    INLINE_VALUES_DIR,
    HelmfileImport,
    ImportedRelease,
    import_helmfile,
)

__all__ = [
    "IMPORT_MARKER",
    "INLINE_VALUES_DIR",
    "MARKER",
    "SECRETS_DIR",
    "Gap",
    "HelmfileExport",
    "HelmfileImport",
    "ImportedRelease",
    "PlannedFile",
    "SecretsMode",
    "export_helmfile",
    "import_helmfile",
    "is_ours",
]
