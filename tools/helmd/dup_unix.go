//go:build unix

package main

import "syscall"

func dup(fd int) (int, error) { return syscall.Dup(fd) }
