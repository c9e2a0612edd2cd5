package mining

import "testing"

// A channel is credited from its first accepted share until the next prev
// hash; a fresh channel, an unknown one and a rejected share are not.
func TestCredited(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.template(1, true, 1)
	e.prevHash(1, hardBits)
	ch := e.open(true)
	if e.conn.Credited(ch) || e.conn.Credited(999) {
		t.Fatal("credited before any share")
	}
	w := e.work(ch)
	bad := newShare(w)
	bad.job = 9999 // no such job
	if r := e.submit(bad); r.Status != ShareRejected || e.conn.Credited(ch) {
		t.Fatalf("a rejected share (%v) credited the channel", r.Status)
	}
	if r := e.submit(newShare(w).find(t, w, anyHash)); r.Status != ShareAccepted || !e.conn.Credited(ch) {
		t.Fatalf("an accepted share (%v %q) did not credit the channel", r.Status, r.Code)
	}
	e.template(2, true, 1)
	e.prevHash(2, hardBits)
	if e.conn.Credited(ch) {
		t.Fatal("still credited after the next prev hash")
	}
}
