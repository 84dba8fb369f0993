package netutil

import (
	"reflect"
	"testing"
)

// TestFDSpecShm: the shared memory region's descriptor has a kind of its own.
func TestFDSpecShm(t *testing.T) {
	specs := []FDSpec{{Kind: "ctl", FD: 3}, {Kind: "tcp", Addr: "127.0.0.1:80", FD: 4}, {Kind: "shm", FD: 5}}
	enc := EncodeFDs(specs)
	if enc != "ctl:0:3:,tcp:0:4:127.0.0.1:80,shm:0:5:" {
		t.Fatalf("EncodeFDs = %q", enc)
	}
	got, err := DecodeFDs(enc)
	if err != nil || !reflect.DeepEqual(got, specs) {
		t.Fatalf("DecodeFDs(%q) = %+v, %v", enc, got, err)
	}
}
