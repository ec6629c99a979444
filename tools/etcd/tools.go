//go:build tools

// Package tools pins etcd. go.etcd.io/etcd/server/v3 carries replace directives, which
// `go install pkg@version` refuses, so it is built from this wrapper module instead.
package tools

import _ "go.etcd.io/etcd/server/v3"
