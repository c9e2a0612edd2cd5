package monitor

import (
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// sanitize makes a status fit to encode: non-finite numbers are 0 and
// times beyond JSON's years 0–9999 are the zero time. Slices it changes are
// copied first: they may be the app's.
func sanitize(st Status) Status {
	st.Hashrate = finite(st.Hashrate)
	st.Started = jsonTime(st.Started)
	if st.Shares != nil {
		sh := *st.Shares
		sh.AcceptedDifficulty = finite(sh.AcceptedDifficulty)
		st.Shares = &sh
	}
	if st.Template != nil {
		t := *st.Template
		t.Age, t.Received = finite(t.Age), jsonTime(t.Received)
		st.Template = &t
	}
	if st.Blocks != nil {
		b := *st.Blocks
		b.Recent = slices.Clone(b.Recent)
		for i := range b.Recent {
			b.Recent[i].Found = jsonTime(b.Recent[i].Found)
		}
		st.Blocks = &b
	}
	if st.Node != nil {
		n := *st.Node
		n.Seconds = finite(n.Seconds)
		n.Buckets = slices.Clone(n.Buckets)
		for i := range n.Buckets {
			n.Buckets[i].Le = finite(n.Buckets[i].Le)
		}
		st.Node = &n
	}
	st.Counters = slices.Clone(st.Counters)
	for i := range st.Counters {
		st.Counters[i].Value = finite(st.Counters[i].Value)
	}
	return st
}

func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func jsonTime(t time.Time) time.Time {
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}
	}
	return t
}

// labelValue is s as a Prometheus label value, which must be UTF-8: bytes
// that are not are written as \xNN, so that names a peer chose differ as
// much as before and a scrape never fails on one.
func labelValue(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			const hex = "0123456789abcdef"
			b.WriteString(`\x`)
			b.WriteByte(hex[s[i]>>4])
			b.WriteByte(hex[s[i]&0xf])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
