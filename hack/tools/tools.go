//go:build tools

// Package tools pins the build tools of bgplb in their own module, so their
// dependencies never leak into the main module.
package tools

import (
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
