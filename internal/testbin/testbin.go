// Package testbin builds the rockstar binary for the tests that run it as
// a user does: a test package's TestMain calls Main, and its tests start
// the binary at the path Main set.
//
//	var rockstarBin string
//
//	func TestMain(m *testing.M) { testbin.Main(m, "../cmd/rockstar", &rockstarBin) }
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Main builds the package pkg (a path as `go build` takes it, relative to
// the test's directory) into a temporary directory, sets *bin to the
// binary, runs m's tests, removes the directory and exits with the tests'
// code. A failed build exits 1 before any test runs.
func Main(m *testing.M, pkg string, bin *string) {
	dir, err := os.MkdirTemp("", "rockstar-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testbin:", err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, "rockstar")
	build := exec.Command("go", "build", "-o", *bin, pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "testbin: build rockstar:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
