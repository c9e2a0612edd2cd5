package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// Defaults for zero MempoolConfig fields. DefaultMempoolMaxBytes is well
// above what a node holds with Bitcoin Core's default -maxmempool of 300 MB
// (which counts memory in use, about twice the serialized size), so the
// bound only bites on a node configured for a much larger mempool.
const (
	DefaultMempoolMaxBytes  = 512 << 20
	DefaultMempoolBatchSize = 500
)

// MempoolConfig tunes a Mempool. The zero value selects the documented
// defaults.
type MempoolConfig struct {
	// MaxBytes bounds the serialized size, witnesses included, of the
	// transactions indexed (default DefaultMempoolMaxBytes). Once it is
	// reached, transactions not indexed yet are left out, counted by
	// Skipped, until mined or evicted ones make room. The index's own
	// overhead, some 200 bytes a transaction, comes on top.
	MaxBytes int64

	// BatchSize is how many transactions one getrawtransaction batch
	// request asks for (default DefaultMempoolBatchSize). A batch whose
	// reply exceeds the client's Config.MaxReplySize is split and asked
	// again.
	BatchSize int

	// Logger receives a line per refresh that changed the index, and a
	// warning when MaxBytes left transactions out. Nil uses the client's.
	Logger *slog.Logger
}

// MempoolTx is a transaction of the node's mempool.
type MempoolTx struct {
	TxID  chainhash.Hash
	WTxID chainhash.Hash // equal to TxID for a transaction without witness
	// Raw is the transaction serialized with its witness, as the node sent
	// it. It is shared: do not modify it.
	Raw []byte
}

// Mempool indexes the transactions of a node's mempool by wtxid, which a job
// declaration server needs to resolve the transactions of a declared job,
// and which btcd's getrawmempool does not give (Bitcoin Core's gives it only
// verbosely, at a far higher cost). Refresh brings the index up to date; it
// fetches only transactions it has not seen. A Mempool is safe for
// concurrent use.
type Mempool struct {
	c   *Client
	cfg MempoolConfig
	log *slog.Logger

	mu       sync.RWMutex
	byWTxID  map[chainhash.Hash]MempoolTx
	byTxID   map[chainhash.Hash]chainhash.Hash // txid -> wtxid
	skipped  map[chainhash.Hash]int            // txid -> size, left out for MaxBytes
	bytes    int64                             // sum of len(Raw) over byWTxID
	flightMu sync.Mutex
	flight   *refreshFlight // the refresh under way, nil when none is

	// onWait, when set (by tests), is called each time a Refresh starts
	// waiting for another one.
	onWait func()
}

// refreshFlight is one run of refresh, whose result every Refresh call
// that waited for it shares.
type refreshFlight struct {
	done   chan struct{}
	err    error
	gaveUp bool // the context of the caller that ran it ended
}

// NewMempool returns an empty index of c's mempool; call Refresh to fill it.
func NewMempool(c *Client, cfg MempoolConfig) *Mempool {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMempoolMaxBytes
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultMempoolBatchSize
	}
	log := cfg.Logger
	if log == nil {
		log = c.log
	}
	return &Mempool{
		c:       c,
		cfg:     cfg,
		log:     log.With("subsystem", "mempool"),
		byWTxID: map[chainhash.Hash]MempoolTx{},
		byTxID:  map[chainhash.Hash]chainhash.Hash{},
		skipped: map[chainhash.Hash]int{},
	}
}

// Lookup returns the indexed transaction whose wtxid is wtxid.
func (m *Mempool) Lookup(wtxid chainhash.Hash) (MempoolTx, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	tx, ok := m.byWTxID[wtxid]
	return tx, ok
}

// Len returns the number of transactions indexed.
func (m *Mempool) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.byWTxID)
}

// Bytes returns the serialized size of the transactions indexed.
func (m *Mempool) Bytes() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.bytes
}

// Skipped returns the number of transactions in the mempool, as of the last
// refresh, that are not indexed because MaxBytes was reached.
func (m *Mempool) Skipped() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.skipped)
}

// Refresh brings the index up to date with the node's mempool: it lists the
// mempool (getrawmempool), forgets the transactions no longer in it, and
// fetches those it has not indexed (getrawtransaction, in batches). A
// transaction that leaves the mempool between the two calls is skipped.
// After a successful Refresh, the index holds the mempool as the node listed
// it after Refresh was called, up to MaxBytes.
//
// Refreshes do not run concurrently. A Refresh called while another runs
// waits for it, since that one may have listed the mempool too early, and
// then runs, or shares the result of the one Refresh that runs next on
// behalf of every caller that waited. ctx bounds the wait as well as the
// work. On an error, what was fetched before it stays indexed.
func (m *Mempool) Refresh(ctx context.Context) error {
	for first := true; ; first = false {
		m.flightMu.Lock()
		f := m.flight
		if f == nil {
			f = &refreshFlight{done: make(chan struct{})}
			m.flight = f
			m.flightMu.Unlock()
			f.err = m.refresh(ctx)
			f.gaveUp = f.err != nil && ctx.Err() != nil
			m.flightMu.Lock()
			m.flight = nil
			m.flightMu.Unlock()
			close(f.done)
			return f.err
		}
		m.flightMu.Unlock()
		if m.onWait != nil {
			m.onWait()
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return fmt.Errorf("node: mempool refresh: %w", ctx.Err())
		}
		if first {
			continue // it was under way when we were called: run another
		}
		if f.gaveUp && ctx.Err() == nil {
			continue // the caller that ran it gave up; we have not
		}
		return f.err
	}
}

// refresh is one run of Refresh.
func (m *Mempool) refresh(ctx context.Context) error {
	txids, err := m.c.GetRawMempool(ctx)
	if err != nil {
		return fmt.Errorf("node: mempool refresh: %w", err)
	}
	inPool := make(map[chainhash.Hash]struct{}, len(txids))
	for _, id := range txids {
		inPool[id] = struct{}{}
	}

	// Forget what left the mempool first, so that its room is free for
	// what came in.
	m.mu.Lock()
	removed := 0
	for txid, wtxid := range m.byTxID {
		if _, ok := inPool[txid]; !ok {
			m.bytes -= int64(len(m.byWTxID[wtxid].Raw))
			delete(m.byWTxID, wtxid)
			delete(m.byTxID, txid)
			removed++
		}
	}
	for txid := range m.skipped {
		if _, ok := inPool[txid]; !ok {
			delete(m.skipped, txid)
		}
	}
	var want []chainhash.Hash
	for _, txid := range txids {
		if _, ok := m.byTxID[txid]; ok {
			continue
		}
		// A transaction left out for lack of room is asked for again only
		// once it fits.
		if size, ok := m.skipped[txid]; ok && m.bytes+int64(size) > m.cfg.MaxBytes {
			continue
		}
		want = append(want, txid)
	}
	m.mu.Unlock()

	var st refreshStats
	for len(want) > 0 {
		n := min(len(want), m.cfg.BatchSize)
		if err := m.fetch(ctx, want[:n], &st); err != nil {
			m.logRefresh(len(txids), removed, st)
			return err
		}
		want = want[n:]
	}
	m.logRefresh(len(txids), removed, st)
	return nil
}

type refreshStats struct {
	added, vanished, skipped int
}

func (m *Mempool) logRefresh(listed, removed int, st refreshStats) {
	if st.skipped > 0 {
		m.log.Warn("mempool index full: transactions left out", "max_bytes", m.cfg.MaxBytes,
			"left_out", st.skipped, "left_out_total", m.Skipped())
	}
	if removed > 0 || st.added > 0 || st.vanished > 0 {
		m.log.Debug("mempool refreshed", "listed", listed, "added", st.added, "removed", removed,
			"vanished", st.vanished, "indexed", m.Len(), "bytes", m.Bytes())
	}
}

// fetch gets txids with one getrawtransaction batch and indexes them,
// splitting the batch when its reply is too large for the client.
func (m *Mempool) fetch(ctx context.Context, txids []chainhash.Hash, st *refreshStats) error {
	params := make([][]any, len(txids))
	for i, id := range txids {
		params[i] = []any{id.String(), 0}
	}
	replies, err := m.c.callBatch(ctx, "getrawtransaction", params)
	if errors.Is(err, errReplyTooLarge) && len(txids) > 1 {
		half := len(txids) / 2
		if err := m.fetch(ctx, txids[:half], st); err != nil {
			return err
		}
		return m.fetch(ctx, txids[half:], st)
	}
	if err != nil {
		return fmt.Errorf("node: mempool refresh: %w", err)
	}
	for i, r := range replies {
		if r.Err != nil {
			if r.Err.Code == CodeInvalidAddrKey {
				st.vanished++ // mined or evicted since getrawmempool
				continue
			}
			return fmt.Errorf("node: mempool refresh: transaction %v: %w", txids[i], r.Err)
		}
		tx, err := decodeMempoolTx(txids[i], r.Result)
		if err != nil {
			return fmt.Errorf("node: mempool refresh: %w", err)
		}
		m.add(tx, st)
	}
	return nil
}

// decodeMempoolTx decodes getrawtransaction's answer for txid.
func decodeMempoolTx(txid chainhash.Hash, result json.RawMessage) (MempoolTx, error) {
	bad := func(err error) error {
		return fmt.Errorf("%w: getrawtransaction %v: %w", ErrMalformedReply, txid, err)
	}
	var s string
	if err := json.Unmarshal(result, &s); err != nil {
		return MempoolTx{}, bad(err)
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return MempoolTx{}, bad(err)
	}
	var tx wire.MsgTx
	r := bytes.NewReader(raw)
	if err := tx.Deserialize(r); err != nil {
		return MempoolTx{}, bad(err)
	}
	if r.Len() != 0 {
		return MempoolTx{}, bad(fmt.Errorf("%d bytes after the transaction", r.Len()))
	}
	if got := tx.TxHash(); got != txid {
		return MempoolTx{}, bad(fmt.Errorf("the node sent transaction %v", got))
	}
	return MempoolTx{TxID: txid, WTxID: tx.WitnessHash(), Raw: raw}, nil
}

// add indexes tx unless MaxBytes leaves no room for it.
func (m *Mempool) add(tx MempoolTx, st *refreshStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byTxID[tx.TxID]; ok {
		return
	}
	size := len(tx.Raw)
	if m.bytes+int64(size) > m.cfg.MaxBytes {
		if _, ok := m.skipped[tx.TxID]; !ok {
			st.skipped++
		}
		m.skipped[tx.TxID] = size
		return
	}
	delete(m.skipped, tx.TxID)
	m.byWTxID[tx.WTxID] = tx
	m.byTxID[tx.TxID] = tx.WTxID
	m.bytes += int64(size)
	st.added++
}
