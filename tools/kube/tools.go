//go:build tools

// Package tools pins the Kubernetes control-plane binaries that gripctl's sandbox runs.
// k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces the staging modules with
// local paths), so this wrapper module requires it and maps each staging module to its
// published v0.x.y twin. The version lives in ../versions.env; update both together.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
