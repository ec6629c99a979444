//go:build tools

// Package tools pins helmfile, a benchmark-only tool (scripts/toolchain.sh --bench).
// github.com/helmfile/helmfile carries replace directives, which `go install pkg@version`
// refuses, so this wrapper module requires it and copies its replace block. The version
// lives in ../versions.env; update both together (and the replace block from helmfile's go.mod).
package tools

import _ "github.com/helmfile/helmfile"
