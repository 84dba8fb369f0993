package shm

import (
	"testing"
	"time"
)

func TestMonoMatchesNow(t *testing.T) {
	if MonoError() > time.Millisecond {
		t.Fatalf("clock offset measured to within %v only", MonoError())
	}
	for range 100 {
		a := Now()
		m := Mono(time.Now())
		b := Now()
		slack := int64(MonoError())
		if m < a-slack || m > b+slack {
			t.Fatalf("Mono %d outside [%d, %d] ± %d", m, a, b, slack)
		}
	}
}

// The two ways a limiter can read the shared clock: converting the request's
// time.Time (a subtraction) or asking the kernel (a vDSO call).
func BenchmarkMono(b *testing.B) {
	t := time.Now()
	var s int64
	for b.Loop() {
		s += Mono(t)
	}
	_ = s
}

func BenchmarkNow(b *testing.B) {
	var s int64
	for b.Loop() {
		s += Now()
	}
	_ = s
}
