package backoff

import (
	"slices"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestSequence(t *testing.T) {
	for name, tc := range map[string]struct {
		b    Backoff
		want []time.Duration
	}{
		// The apps' former formulas, which these settings replace.
		"cpuminer":         {Backoff{Base: 100 * ms, Cap: 5 * time.Second}, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5 * time.Second, 5 * time.Second}},
		"pool to provider": {Backoff{Base: 200 * ms, Cap: 5 * time.Second}, []time.Duration{200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5 * time.Second, 5 * time.Second}},
		"accept":           {Backoff{Base: 5 * ms, Cap: time.Second}, []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second}},
		"defaults":         {Backoff{}, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 10 * time.Second, 10 * time.Second}},
		"cap below base":   {Backoff{Base: time.Second, Cap: 10 * ms}, []time.Duration{time.Second, time.Second}},
		"cap not a power":  {Backoff{Base: 3 * ms, Cap: 10 * ms}, []time.Duration{3 * ms, 6 * ms, 10 * ms, 10 * ms}},
		"negative is zero": {Backoff{Base: -1, Cap: -1, Jitter: -3}, []time.Duration{100 * ms, 200 * ms}},
		"huge cap":         {Backoff{Base: time.Hour, Cap: 1<<63 - 1}, []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour}},
	} {
		t.Run(name, func(t *testing.T) {
			var got []time.Duration
			for range tc.want {
				got = append(got, tc.b.Next())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Next() gave %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNeverOverflows(t *testing.T) {
	b := Backoff{Base: time.Nanosecond, Cap: 1<<63 - 1}
	prev := time.Duration(0)
	for i := range 200 {
		d := b.Next()
		if d < prev || d <= 0 {
			t.Fatalf("attempt %d: %v after %v", i+1, d, prev)
		}
		prev = d
	}
	if prev != b.Cap {
		t.Fatalf("after 200 attempts the delay is %v, want the cap %v", prev, b.Cap)
	}
}

func TestResetAndAttempts(t *testing.T) {
	b := Backoff{Base: 10 * ms, Cap: time.Second}
	for range 4 {
		b.Next()
	}
	if b.Attempts() != 4 {
		t.Fatalf("Attempts() = %d, want 4", b.Attempts())
	}
	b.Reset()
	if b.Attempts() != 0 {
		t.Fatalf("Attempts() after Reset = %d, want 0", b.Attempts())
	}
	if d := b.Next(); d != 10*ms {
		t.Fatalf("Next() after Reset = %v, want Base", d)
	}
}

func TestJitter(t *testing.T) {
	b := Backoff{Base: 100 * ms, Cap: time.Second, Jitter: 0.2}
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}
	for range 50 {
		b.Reset()
		for i, w := range want {
			if got := b.Next(); got < w*8/10 || got > w*12/10 {
				t.Fatalf("attempt %d: %v, want %v ±20%%", i+1, got, w)
			}
		}
	}
	// The delays are spread, not all the same.
	seen := map[time.Duration]bool{}
	for range 50 {
		b.Reset()
		seen[b.Next()] = true
	}
	if len(seen) < 10 {
		t.Fatalf("50 jittered first delays took only %d values", len(seen))
	}
}

func TestFullJitterStaysPositiveOrZero(t *testing.T) {
	b := Backoff{Base: 10 * ms, Cap: 10 * ms, Jitter: 7} // clamped to 1
	for range 1000 {
		if d := b.Next(); d < 0 || d > 20*ms {
			t.Fatalf("Next() = %v, want within [0, 20ms]", d)
		}
	}
}
