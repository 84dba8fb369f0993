package netutil

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

// ErrUnsupported matches errors.ErrUnsupported and names the system, so
// that an error about a missing piece says where it is missing.
func TestErrUnsupported(t *testing.T) {
	if !errors.Is(ErrUnsupported, errors.ErrUnsupported) {
		t.Errorf("%v does not wrap errors.ErrUnsupported", ErrUnsupported)
	}
	if !strings.Contains(ErrUnsupported.Error(), runtime.GOOS) {
		t.Errorf("%q does not name %s", ErrUnsupported, runtime.GOOS)
	}
}
