package mining

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

var payoutScript = append([]byte{0x51, 0x20}, bytes.Repeat([]byte{0xee}, 32)...)

// customEnv is a server taking custom jobs, on a tip at height 10,000 (the
// test templates' coinbase_prefix), with one extended channel on a
// connection that negotiated REQUIRES_WORK_SELECTION.
func customEnv(t *testing.T, bits uint32, mod func(*ServerConfig)) (*env, uint32) {
	t.Helper()
	e := newEnv(t, FlagRequiresWorkSelection, func(c *ServerConfig) {
		c.CustomJobs = &CustomJobConfig{PayoutScript: payoutScript, VerifyToken: func(_ *Conn, m *sv2.SetCustomMiningJob) error {
			if string(m.MiningJobToken) != "token" {
				return errors.New("not a token the job declarator allocated")
			}
			return nil
		}}
		if mod != nil {
			mod(c)
		}
	})
	e.template(1, true, 3)
	e.prevHash(1, bits)
	return e, e.open(true)
}

// outputs serializes outputs as SetCustomMiningJob carries them: count first.
func outputs(outs ...wire.TxOut) []byte {
	b := []byte{byte(len(outs))}
	for _, o := range outs {
		b = binary.LittleEndian.AppendUint64(b, uint64(o.Value))
		b = append(b, byte(len(o.PkScript)))
		b = append(b, o.PkScript...)
	}
	return b
}

func witnessCommitment() wire.TxOut {
	return wire.TxOut{PkScript: append([]byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}, bytes.Repeat([]byte{9}, 32)...)}
}

// validCustomJob is a job a job declarator client would send on ch: at the
// tip's height, paying the whole reward to the pool.
func validCustomJob(ch uint32, bits uint32) *sv2.SetCustomMiningJob {
	tip := prevHash(1, bits)
	return &sv2.SetCustomMiningJob{
		ChannelID: ch, RequestID: 77, MiningJobToken: []byte("token"), Version: 0x20000000,
		PrevHash: tip.PrevHash, MinNTime: tip.HeaderTimestamp, NBits: bits, CoinbaseTxVersion: 2,
		// BIP34 height 10,000, a tag, and the push of the 8-byte full extranonce.
		CoinbasePrefix:           []byte{0x03, 0x10, 0x27, 0x00, 0x04, '/', 'j', 'd', '/', 0x08},
		CoinbaseTxInputNSequence: 0xfffffffe, CoinbaseTxLocktime: 9999,
		CoinbaseTxOutputs: outputs(wire.TxOut{Value: 625_000_000, PkScript: payoutScript}, witnessCommitment()),
		MerklePath:        []sv2.U256{{1}, {2}, {3}},
	}
}

// customWork is what the job declarator client mines for an accepted job on ch.
func customWork(t *testing.T, e *env, m *sv2.SetCustomMiningJob, ch, jobID uint32) *Work {
	t.Helper()
	cb, _, err := coinbase.FromCustomJob(m, e.srv.cfg.Extranonce.FullSize())
	if err != nil {
		t.Fatal(err)
	}
	w := *e.work(ch) // the channel's prefix, extranonce size and target
	w.JobID, w.Version, w.MinNTime, w.PrevHash, w.NBits = jobID, m.Version, m.MinNTime, m.PrevHash, m.NBits
	w.CoinbasePrefix, w.CoinbaseSuffix, w.MerklePath = cb.Prefix(), cb.Suffix(), m.MerklePath
	return &w
}

func TestSetCustomMiningJobAccepted(t *testing.T) {
	cases := []struct {
		name          string
		mod           func(m *sv2.SetCustomMiningJob, e *env)
		payout, total uint64
	}{
		{name: "whole reward to the pool", payout: 625_000_000, total: 625_000_000},
		{name: "part kept by the miner (§6.4.3 example B)", mod: func(m *sv2.SetCustomMiningJob, _ *env) {
			m.CoinbaseTxOutputs = outputs(wire.TxOut{Value: 25_000_000, PkScript: []byte{0x51}},
				wire.TxOut{Value: 600_000_000, PkScript: payoutScript}, witnessCommitment())
		}, payout: 600_000_000, total: 625_000_000},
		{name: "final sequence with any height locktime", mod: func(m *sv2.SetCustomMiningJob, _ *env) {
			m.CoinbaseTxInputNSequence, m.CoinbaseTxLocktime = 0xffffffff, 20_000
		}, payout: 625_000_000, total: 625_000_000},
		{name: "on the group channel", mod: func(m *sv2.SetCustomMiningJob, e *env) {
			m.ChannelID = e.conn.GroupChannelID()
		}, payout: 625_000_000, total: 625_000_000},
		{name: "no merkle path (a block of the coinbase alone)", mod: func(m *sv2.SetCustomMiningJob, _ *env) {
			m.MerklePath = nil
		}, payout: 625_000_000, total: 625_000_000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, ch := customEnv(t, hardBits, nil)
			m := validCustomJob(ch, hardBits)
			if c.mod != nil {
				c.mod(m, e)
			}
			res, err := e.conn.SetCustomMiningJob(m)
			if err != nil {
				t.Fatal(err)
			}
			if res.Success.ChannelID != m.ChannelID || res.Success.RequestID != 77 || res.Success.JobID == 0 {
				t.Fatalf("success %+v", res.Success)
			}
			if res.Payout != c.payout || res.Total != c.total {
				t.Fatalf("payout %d of %d, want %d of %d", res.Payout, res.Total, c.payout, c.total)
			}
			w := customWork(t, e, m, ch, res.Success.JobID)
			if r := e.submit(newShare(w).find(t, w, anyHash)); r.Status != ShareAccepted {
				t.Fatalf("share on the custom job: %v %q", r.Status, r.Code)
			}
			// Job ids stay unique: the pool's next job does not reuse it.
			e.template(2, false, 3)
			if got := e.work(ch).JobID; got == res.Success.JobID {
				t.Fatalf("template job reused custom job id %d", got)
			}
			if r := e.submit(newShare(w).find(t, w, anyHash)); r.Status != ShareAccepted && r.Code != CodeDuplicateShare {
				t.Fatalf("share on the custom job after a template: %v %q", r.Status, r.Code)
			}
		})
	}
}

func TestSetCustomMiningJobShares(t *testing.T) {
	t.Run("block found", func(t *testing.T) {
		e, ch := customEnv(t, regtestBits, nil)
		m := validCustomJob(ch, regtestBits)
		res, err := e.conn.SetCustomMiningJob(m)
		if err != nil {
			t.Fatal(err)
		}
		w := customWork(t, e, m, ch, res.Success.JobID)
		net, _ := target.FromCompact(regtestBits)
		s := newShare(w).find(t, w, below(net))
		r := e.submit(s)
		if r.Status != ShareBlockFound || r.Block == nil || !r.Block.Custom || r.Block.TemplateID != 0 {
			t.Fatalf("got %v %q, block %+v", r.Status, r.Code, r.Block)
		}
		var tx wire.MsgTx
		if err := tx.Deserialize(bytes.NewReader(r.Block.Coinbase)); err != nil {
			t.Fatal(err)
		}
		if !tx.HasWitness() || !bytes.Equal(tx.TxOut[0].PkScript, payoutScript) {
			t.Fatal("found block's coinbase lacks its witness or the pool payout")
		}
		want := append(append([]byte(nil), w.ExtranoncePrefix...), s.extranonce...)
		if got := tx.TxIn[0].SignatureScript; !bytes.HasSuffix(got, want) || !bytes.HasPrefix(got, m.CoinbasePrefix) {
			t.Fatalf("scriptSig %x, want coinbase_prefix then extranonce %x", got, want)
		}
	})
	t.Run("stale after a new prev hash", func(t *testing.T) {
		e, ch := customEnv(t, hardBits, nil)
		m := validCustomJob(ch, hardBits)
		res, err := e.conn.SetCustomMiningJob(m)
		if err != nil {
			t.Fatal(err)
		}
		w := customWork(t, e, m, ch, res.Success.JobID)
		e.template(5, true, 3)
		e.prevHash(5, hardBits)
		if r := e.submit(newShare(w).find(t, w, anyHash)); r.Code != CodeStaleShare {
			t.Fatalf("got %v %q, want %s", r.Status, r.Code, CodeStaleShare)
		}
		// And a job on the old tip is refused.
		if _, err := e.conn.SetCustomMiningJob(m); !hasCode(err, CodeStaleChainTip) {
			t.Fatalf("job on the old tip: %v", err)
		}
	})
	t.Run("bad extranonce size and ntime below the job's min_ntime", func(t *testing.T) {
		e, ch := customEnv(t, hardBits, nil)
		m := validCustomJob(ch, hardBits)
		m.MinNTime += 100
		res, err := e.conn.SetCustomMiningJob(m)
		if err != nil {
			t.Fatal(err)
		}
		w := customWork(t, e, m, ch, res.Success.JobID)
		s := newShare(w)
		s.ntime--
		if r := e.submit(s.find(t, w, anyHash)); r.Code != CodeInvalidShare {
			t.Fatalf("ntime below min_ntime: %v %q", r.Status, r.Code)
		}
		s = newShare(w).find(t, w, anyHash)
		s.extranonce = s.extranonce[1:]
		if r := e.submit(s); r.Code != CodeBadExtranonceSize {
			t.Fatalf("short extranonce: %v %q", r.Status, r.Code)
		}
	})
}

func hasCode(err error, code string) bool {
	var ce *CustomJobError
	return errors.As(err, &ce) && ce.Code == code
}

func TestSetCustomMiningJobRefused(t *testing.T) {
	cases := []struct {
		name   string
		server func(*ServerConfig)
		flags  *uint32
		mod    func(m *sv2.SetCustomMiningJob, e *env)
		code   string
	}{
		{name: "server without custom jobs", server: func(c *ServerConfig) { c.CustomJobs = nil }, code: CodeJDNotSupported},
		{name: "connection without REQUIRES_WORK_SELECTION", flags: new(uint32), code: CodeJDNotSupported},
		{name: "unknown channel", mod: func(m *sv2.SetCustomMiningJob, _ *env) { m.ChannelID = 999 }, code: CodeInvalidChannelID},
		{name: "standard channel", mod: func(m *sv2.SetCustomMiningJob, e *env) { m.ChannelID = e.open(false) }, code: CodeInvalidChannelID},
		{name: "token refused by the hook", mod: func(m *sv2.SetCustomMiningJob, _ *env) { m.MiningJobToken = []byte("forged") }, code: CodeInvalidMiningJobToken},
		{name: "another prev hash", mod: func(m *sv2.SetCustomMiningJob, _ *env) { m.PrevHash[5] ^= 1 }, code: CodeStaleChainTip},
		{name: "other nbits", mod: func(m *sv2.SetCustomMiningJob, _ *env) { m.NBits = regtestBits }, code: CodeInvalidNBits},
		{name: "min_ntime below the tip's", mod: func(m *sv2.SetCustomMiningJob, _ *env) { m.MinNTime-- }, code: CodeInvalidMinNTime},
		{name: "min_ntime over 2 hours ahead", mod: func(m *sv2.SetCustomMiningJob, _ *env) { m.MinNTime += 2*3600 + 1 }, code: CodeInvalidMinNTime},
		{name: "version 3", mod: func(m *sv2.SetCustomMiningJob, _ *env) { m.Version = 3 }, code: CodeInvalidVersion},
		{name: "negative version", mod: func(m *sv2.SetCustomMiningJob, _ *env) { m.Version = 0x80000000 }, code: CodeInvalidVersion},
		{name: "wrong BIP34 height", mod: func(m *sv2.SetCustomMiningJob, _ *env) { m.CoinbasePrefix[1]++ }, code: CodeInvalidCoinbasePrefix},
		{name: "no BIP34 height", mod: func(m *sv2.SetCustomMiningJob, _ *env) { m.CoinbasePrefix = []byte{0x04, '/', 'j', 'd', '/', 0x08} }, code: CodeInvalidCoinbasePrefix},
		{name: "scriptSig over 100 bytes", mod: func(m *sv2.SetCustomMiningJob, _ *env) {
			m.CoinbasePrefix = append(m.CoinbasePrefix[:4], make([]byte, 89)...) // 93 + 8 bytes of extranonce
		}, code: CodeInvalidCoinbasePrefix},
		{name: "malformed outputs", mod: func(m *sv2.SetCustomMiningJob, _ *env) { m.CoinbaseTxOutputs = m.CoinbaseTxOutputs[:20] }, code: CodeInvalidCoinbaseTxOutputs},
		{name: "outputs over 21 million bitcoin", mod: func(m *sv2.SetCustomMiningJob, _ *env) {
			m.CoinbaseTxOutputs = outputs(wire.TxOut{Value: 21_000_001 * 100_000_000, PkScript: payoutScript})
		}, code: CodeInvalidCoinbaseTxOutputs},
		{name: "no pool payout output", mod: func(m *sv2.SetCustomMiningJob, _ *env) {
			m.CoinbaseTxOutputs = outputs(wire.TxOut{Value: 625_000_000, PkScript: []byte{0x51}}, witnessCommitment())
		}, code: CodeInvalidCoinbaseTxOutputs},
		{name: "pool payout output of 0 sat", mod: func(m *sv2.SetCustomMiningJob, _ *env) {
			m.CoinbaseTxOutputs = outputs(wire.TxOut{Value: 625_000_000, PkScript: []byte{0x51}},
				wire.TxOut{PkScript: payoutScript}, witnessCommitment())
		}, code: CodeInvalidCoinbaseTxOutputs},
		{name: "locktime at the block's height", mod: func(m *sv2.SetCustomMiningJob, _ *env) { m.CoinbaseTxLocktime = 10_000 }, code: CodeInvalidCoinbaseTxLocktime},
		{name: "merkle path deeper than a block", mod: func(m *sv2.SetCustomMiningJob, _ *env) { m.MerklePath = make([]sv2.U256, 16) }, code: CodeInvalidMerklePath},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, ch := customEnv(t, hardBits, c.server)
			if c.flags != nil {
				conn, err := e.srv.NewConn(*c.flags)
				if err != nil {
					t.Fatal(err)
				}
				e.conn = conn
				ch = e.open(true)
			}
			m := validCustomJob(ch, hardBits)
			if c.mod != nil {
				c.mod(m, e)
			}
			res, err := e.conn.SetCustomMiningJob(m)
			if !hasCode(err, c.code) {
				t.Fatalf("got %+v, %v; want code %s", res, err, c.code)
			}
			// Nothing changed: the channel's jobs are the pool's alone.
			w := e.work(ch)
			if r := e.submit(newShare(w).find(t, w, anyHash)); r.Status != ShareAccepted {
				t.Fatalf("pool job after a refused custom job: %v %q", r.Status, r.Code)
			}
		})
	}
}

func TestBIP34Height(t *testing.T) {
	cases := []struct {
		prefix []byte
		push   []byte
		height int64
	}{
		{[]byte{0x00, 0xaa}, []byte{0x00}, 0},
		{[]byte{0x51}, []byte{0x51}, 1},
		{[]byte{0x60, 0x01}, []byte{0x60}, 16},
		{[]byte{0x01, 0x11}, []byte{0x01, 0x11}, 17},
		{[]byte{0x02, 0x80, 0x00, 0xff}, []byte{0x02, 0x80, 0x00}, 128},
		{[]byte{0x03, 0x10, 0x27, 0x00}, []byte{0x03, 0x10, 0x27, 0x00}, 10_000},
		{[]byte{0x03, 0x8f, 0x3c, 0x0d}, []byte{0x03, 0x8f, 0x3c, 0x0d}, 867_471},
		{[]byte{0x01, 0x81}, nil, -1}, // a negative number
		{[]byte{0x03, 0x10}, nil, -1}, // truncated
		{[]byte{0x04, '/', 'x'}, nil, -1},
		{nil, nil, -1},
	}
	for _, c := range cases {
		push, h := coinbase.BIP34Height(c.prefix)
		if !bytes.Equal(push, c.push) || h != c.height {
			t.Errorf("coinbase.BIP34Height(%x) = %x, %d; want %x, %d", c.prefix, push, h, c.push, c.height)
		}
	}
}

// TestBIP34HeightFromScriptBuilder reads heights as btcd's script builder
// writes them (Bitcoin Core's encoding), followed by more coinbase bytes.
func TestBIP34HeightFromScriptBuilder(t *testing.T) {
	for _, h := range []int64{1, 16, 17, 128, 255, 256, 500_000, 900_000} {
		prefix, _ := txscript.NewScriptBuilder().AddInt64(h).Script()
		if _, got := coinbase.BIP34Height(append(prefix, 0xaa, 0xbb)); got != h {
			t.Errorf("height %d read as %d (prefix %x)", h, got, prefix)
		}
	}
}

// TestSetCustomMiningJobMinPayoutAndTokenLast: a job paying the pool less
// than MinPayout is refused, and a job refused by any check never reaches
// VerifyToken, which spends tokens.
func TestSetCustomMiningJobMinPayoutAndTokenLast(t *testing.T) {
	verified := 0
	e, ch := customEnv(t, hardBits, func(c *ServerConfig) {
		c.CustomJobs.MinPayout = func(height int64) uint64 {
			if height != 10_000 {
				t.Errorf("MinPayout at height %d, want the tip's 10000", height)
			}
			return 600_000_000
		}
		c.CustomJobs.VerifyToken = func(*Conn, *sv2.SetCustomMiningJob) error { verified++; return nil }
	})
	under := validCustomJob(ch, hardBits)
	under.CoinbaseTxOutputs = outputs(wire.TxOut{Value: 599_999_999, PkScript: payoutScript}, wire.TxOut{Value: 25_000_001, PkScript: []byte{0x51}})
	stale := validCustomJob(ch, hardBits)
	stale.PrevHash[0] ^= 1
	badTime := validCustomJob(ch, hardBits)
	badTime.MinNTime--
	for name, tc := range map[string]struct {
		m    *sv2.SetCustomMiningJob
		code string
	}{
		"underfunded": {under, CodeInvalidCoinbaseTxOutputs}, "stale": {stale, CodeStaleChainTip}, "min_ntime": {badTime, CodeInvalidMinNTime},
	} {
		var ce *CustomJobError
		if _, err := e.conn.SetCustomMiningJob(tc.m); !errors.As(err, &ce) || ce.Code != tc.code {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
	if verified != 0 {
		t.Fatalf("VerifyToken called %d times for refused jobs", verified)
	}
	if _, err := e.conn.SetCustomMiningJob(validCustomJob(ch, hardBits)); err != nil {
		t.Fatal(err)
	}
	if verified != 1 {
		t.Fatalf("VerifyToken called %d times for one accepted job", verified)
	}
}
