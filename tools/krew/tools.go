//go:build tools

// Package tools pins Krew (the kubectl plugin manager) for the packaging test that installs the
// kubectl-siterecovery plugin from its release archive and manifest: test/support/go-tool.ts builds
// sigs.k8s.io/krew/cmd/krew from this module.
package tools

import _ "sigs.k8s.io/krew/cmd/krew"
