package mining

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// upstreamJob is an upstream's job as a proxy hands it on: a coinbase
// prefix and suffix of its own around the server's full extranonce.
func upstreamJob(id uint64, future, rolling bool) UpstreamJob {
	return UpstreamJob{ID: id, Future: future, Version: 0x20000000, VersionRolling: rolling,
		MerklePath:     []sv2.U256{{1, byte(id)}, {2, byte(id)}},
		CoinbasePrefix: []byte("upstream coinbase prefix, its extranonce prefix and filler"),
		CoinbaseSuffix: []byte("upstream coinbase suffix: sequence, outputs, locktime")}
}

// A job of NewUpstreamJob, activated by SetNewPrevHash, is the upstream's
// coinbase with the channel's extranonce: a standard channel's merkle root
// is that of coinbase.FromParts, an extended channel's job carries the
// upstream's prefix and suffix as they are (the server's outputs and tag do
// not apply), and its shares name the job's ID.
func TestUpstreamJob(t *testing.T) {
	e := newEnv(t, 0, nil)
	j := upstreamJob(77, true, true)
	if _, err := e.srv.NewUpstreamJob(j); err != nil {
		t.Fatal(err)
	}
	e.prevHash(77, hardBits)
	std := e.open(false)
	ext := e.open(true)

	cb := coinbase.FromParts(j.CoinbasePrefix, j.CoinbaseSuffix, e.srv.ExtranonceFullSize())
	w := e.work(std)
	prefix := e.stdPrefix(t, std)
	if want := merkle.Root(cb.TxID(prefix), j.MerklePath); w.MerkleRoot != want {
		t.Fatalf("standard merkle root %x, want %x from the upstream's parts", w.MerkleRoot, want)
	}
	if want := merkle.Root(coinbase.TxID(j.CoinbasePrefix, prefix, nil, j.CoinbaseSuffix), j.MerklePath); w.MerkleRoot != want {
		t.Fatalf("standard merkle root %x, want %x", w.MerkleRoot, want)
	}
	xw := e.work(ext)
	if !bytes.Equal(xw.CoinbasePrefix, j.CoinbasePrefix) || !bytes.Equal(xw.CoinbaseSuffix, j.CoinbaseSuffix) {
		t.Fatalf("extended job coinbase %q / %q, want the upstream's %q / %q", xw.CoinbasePrefix, xw.CoinbaseSuffix, j.CoinbasePrefix, j.CoinbaseSuffix)
	}
	if bytes.Contains(xw.CoinbasePrefix, e.srv.cfg.Coinbase.Tag) || !xw.VersionRolling || xw.Version != j.Version {
		t.Fatalf("extended job %+v", xw)
	}
	for _, ch := range []uint32{std, ext} {
		w := e.work(ch)
		r := e.submit(newShare(w).find(t, w, anyHash))
		if r.Status != ShareAccepted || r.TemplateID != 77 {
			t.Fatalf("channel %d: share %v %q, template %d, want accepted on 77", ch, r.Status, r.Code, r.TemplateID)
		}
	}
}

// stdPrefix is a standard channel's extranonce prefix, from its open.
func (e *env) stdPrefix(t *testing.T, ch uint32) []byte {
	t.Helper()
	e.conn.mu.Lock()
	defer e.conn.mu.Unlock()
	c := e.conn.channels[ch]
	if c == nil || c.extended {
		t.Fatalf("no standard channel %d", ch)
	}
	return c.prefix.Bytes
}

// A share of an upstream job that meets the network target is a block
// found on that job, whose coinbase is the upstream's stripped one with the
// share's full extranonce.
func TestUpstreamJobBlockFound(t *testing.T) {
	e := newEnv(t, 0, nil)
	j := upstreamJob(5, true, true)
	if _, err := e.srv.NewUpstreamJob(j); err != nil {
		t.Fatal(err)
	}
	e.prevHash(5, regtestBits)
	ch := e.open(true)
	w := e.work(ch)
	network, err := target.FromCompact(regtestBits)
	if err != nil {
		t.Fatal(err)
	}
	s := newShare(w)
	s.extranonce = []byte{9, 8, 7, 6}
	r := e.submit(s.find(t, w, below(network)))
	if r.Status != ShareBlockFound || r.Block == nil || r.Block.TemplateID != 5 || r.TemplateID != 5 {
		t.Fatalf("share %v %q, block %+v", r.Status, r.Code, r.Block)
	}
	full := append(append([]byte(nil), w.ExtranoncePrefix...), s.extranonce...)
	want := append(append(append([]byte(nil), j.CoinbasePrefix...), full...), j.CoinbaseSuffix...)
	if !bytes.Equal(r.Block.Coinbase, want) {
		t.Fatalf("block coinbase %x, want the upstream's with the extranonce %x", r.Block.Coinbase, want)
	}
}

// An upstream job without version rolling makes jobs without it, and a
// share that rolls the version is refused.
func TestUpstreamJobWithoutVersionRolling(t *testing.T) {
	e := newEnv(t, 0, nil)
	if _, err := e.srv.NewUpstreamJob(upstreamJob(3, true, false)); err != nil {
		t.Fatal(err)
	}
	e.prevHash(3, hardBits)
	std, ext := e.open(false), e.open(true)
	if w := e.work(ext); w.VersionRolling {
		t.Fatal("extended job allows version rolling")
	}
	for _, ch := range []uint32{std, ext} {
		w := e.work(ch)
		s := newShare(w)
		s.version |= 1 << 13
		if r := e.submit(s.find(t, w, anyHash)); r.Status != ShareRejected || r.Code != CodeVersionRollingNotAllowed {
			t.Fatalf("channel %d: a rolled version %v %q, want %s", ch, r.Status, r.Code, CodeVersionRollingNotAllowed)
		}
		s.version = w.Version
		if r := e.submit(s.find(t, w, anyHash)); r.Status != ShareAccepted {
			t.Fatalf("channel %d: the job's version %v %q", ch, r.Status, r.Code)
		}
	}
}

// A non-future upstream job needs a tip (ErrNoTip before one), and is not
// held to the tip's BIP34 height: it carries none.
func TestUpstreamJobTip(t *testing.T) {
	e := newEnv(t, 0, nil)
	if _, err := e.srv.NewUpstreamJob(upstreamJob(1, false, true)); !errors.Is(err, ErrNoTip) {
		t.Fatalf("a non-future job before any tip: %v, want ErrNoTip", err)
	}
	e.template(1, true, 2) // a template with a BIP34 height
	e.prevHash(1, hardBits)
	ch := e.open(true)
	e.deliverOut(e.srv.NewUpstreamJob(upstreamJob(2, false, true)))
	w := e.work(ch)
	if !bytes.Equal(w.CoinbasePrefix, upstreamJob(2, false, true).CoinbasePrefix) {
		t.Fatalf("the active job's coinbase prefix %q, want the upstream job's", w.CoinbasePrefix)
	}
	if r := e.submit(newShare(w).find(t, w, anyHash)); r.Status != ShareAccepted || r.TemplateID != 2 {
		t.Fatalf("share %v %q on template %d", r.Status, r.Code, r.TemplateID)
	}
}
