package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/apps/jds"
	"github.com/stratumgo/stratum/apps/pool"
	"github.com/stratumgo/stratum/core/jdserver"
	"github.com/stratumgo/stratum/core/jdtoken"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/integration/harness"
)

// jdClient is the job declaration side of a test JDC: it records what the
// JDS sends.
type jdClient struct {
	service.NullJobDeclarationClientHandler
	msgs chan sv2.Message
	svc  *service.ClientService
	req  uint32
}

func (c *jdClient) on(m sv2.Message) ([]service.ClientEvent, error) { c.msgs <- m; return nil, nil }
func (c *jdClient) AllocateMiningJobTokenSuccess(_ context.Context, m *sv2.AllocateMiningJobTokenSuccess) ([]service.ClientEvent, error) {
	return c.on(m)
}
func (c *jdClient) DeclareMiningJobSuccess(_ context.Context, m *sv2.DeclareMiningJobSuccess) ([]service.ClientEvent, error) {
	return c.on(m)
}
func (c *jdClient) DeclareMiningJobError(_ context.Context, m *sv2.DeclareMiningJobError) ([]service.ClientEvent, error) {
	return c.on(m)
}
func (c *jdClient) ProvideMissingTransactions(_ context.Context, m *sv2.ProvideMissingTransactions) ([]service.ClientEvent, error) {
	return c.on(m)
}

// startJDClient connects to a JDS over Noise, pinning its key; flags
// jdserver.FlagDeclareTxData asks for full-template mode.
func startJDClient(t testing.TB, addr string, key noise.PublicKey, flags uint32) *jdClient {
	t.Helper()
	c := &jdClient{msgs: make(chan sv2.Message, 64)}
	svc, err := service.NewClientService(service.ClientConfig{
		JobDeclaration: &service.UpstreamConfig{Address: addr, AuthorityKey: &key, Flags: flags},
	}, nil, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.svc = svc
	harness.Go(t, "JD client", svc.Run)
	return c
}

func (c *jdClient) send(t testing.TB, m sv2.Message) {
	t.Helper()
	sendUpstream(t, c.svc, sv2.ProtocolJobDeclaration, m, 20*time.Second)
}

// nextJD waits for the next message of type T from the JDS, failing on any
// other.
func nextJD[T sv2.Message](t testing.TB, c *jdClient) T {
	t.Helper()
	select {
	case m := <-c.msgs:
		x, ok := m.(T)
		if !ok {
			var zero T
			if e, isErr := m.(*sv2.DeclareMiningJobError); isErr {
				t.Fatalf("got DeclareMiningJob.Error %s (%s), want %T", e.ErrorCode, e.ErrorDetails, zero)
			}
			t.Fatalf("got %T, want %T", m, zero)
		}
		return x
	case <-time.After(time.Minute):
		var zero T
		t.Fatalf("no %T within a minute", zero)
		return zero
	}
}

func (c *jdClient) allocate(t testing.TB, user string) *sv2.AllocateMiningJobTokenSuccess {
	t.Helper()
	c.req++
	c.send(t, &sv2.AllocateMiningJobToken{UserIdentifier: user, RequestID: c.req})
	s := nextJD[*sv2.AllocateMiningJobTokenSuccess](t, c)
	if s.RequestID != c.req {
		t.Fatalf("token for request %d, want %d", s.RequestID, c.req)
	}
	return s
}

// clock is a pool's clock a test can move forward.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// jdPool is a pool running its JDS in-process on node n, with its own
// template provider.
type jdPool struct {
	*runningPool
	jdsAddr string
	payout  []byte
	clock   *clock
}

func startJDPool(t *testing.T, n *harness.Node, mutate func(*pool.Config)) *jdPool {
	t.Helper()
	tpp := startTP(t, n, nil)
	script, err := txscript.PayToAddrScript(newAddress(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	pl := startPool(t, tpp, func(cfg *pool.Config) {
		cfg.Payouts = []pool.Payout{{Script: script, Weight: 1}}
		nc := n.ClientConfig()
		cfg.Node = &nc
		cfg.Now = clk.now
		cfg.JobDeclaration = &pool.JobDeclaration{Listener: ln}
		if mutate != nil {
			mutate(cfg)
		}
	})
	return &jdPool{runningPool: pl, jdsAddr: ln.Addr().String(), payout: script, clock: clk}
}

// template is what a JDC takes from its own template provider: the next
// block's template, its tip, and its transactions.
type template struct {
	nt   *sv2.NewTemplate
	snph *sv2.TemplateSetNewPrevHash
	txs  [][]byte
}

// takeTemplate connects to the template provider p and returns its first
// template with the transactions.
func takeTemplate(t testing.TB, p *tp) template {
	t.Helper()
	td := startTDClient(t, p.addr, p.key, sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: 100, CoinbaseOutputMaxAdditionalSigops: 4})
	nt, snph, _ := nextTemplatePair(t, td, time.Minute)
	td.send(t, &sv2.RequestTransactionData{TemplateID: nt.TemplateID})
	data, _ := next[*sv2.RequestTransactionDataSuccess](t, td, time.Minute)
	return template{nt: nt, snph: snph, txs: data.TransactionList}
}

// declaredJob is one job a test JDC declares and then sets on the pool.
type declaredJob struct {
	declare *sv2.DeclareMiningJob
	custom  *sv2.SetCustomMiningJob
	txs     [][]byte
}

// buildJob lays out a job on tmpl paying the whole reward to the pool's
// payout output (from alloc), for a full extranonce of extranonceSize
// bytes, as a JDC does: the DeclareMiningJob and the SetCustomMiningJob
// that repeats it.
func buildJob(t testing.TB, tmpl template, alloc *sv2.AllocateMiningJobTokenSuccess, extranonceSize int, txs [][]byte) *declaredJob {
	t.Helper()
	outs, err := coinbase.ParseOutputs(alloc.CoinbaseTxOutputs)
	if err != nil || len(outs) == 0 {
		t.Fatalf("pool outputs %x: %v", alloc.CoinbaseTxOutputs, err)
	}
	ptrs := make([]*wire.TxOut, len(outs))
	for i := range outs {
		ptrs[i] = &outs[i]
	}
	wtxids := make([]sv2.U256, len(txs))
	txids := make([]sv2.U256, len(txs))
	for i, raw := range txs {
		var tx wire.MsgTx
		if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		wtxids[i], txids[i] = sv2.U256(tx.WitnessHash()), sv2.U256(tx.TxHash())
	}
	// The JDC's own transaction set gets its own witness commitment.
	nt := *tmpl.nt
	if tmplOuts, err := coinbase.ParseOutputs(append([]byte{byte(nt.CoinbaseTxOutputsCount)}, nt.CoinbaseTxOutputs...)); err == nil {
		var rebuilt bytes.Buffer
		for _, o := range tmplOuts {
			if bytes.HasPrefix(o.PkScript, []byte(coinbase.WitnessCommitmentPrefix)) {
				o.PkScript = coinbase.WitnessCommitmentScript(wtxids)
			}
			wire.WriteTxOut(&rebuilt, 0, 0, &o)
		}
		nt.CoinbaseTxOutputs = rebuilt.Bytes()
	}
	cb, err := coinbase.New(&nt, coinbase.Config{Outputs: ptrs, Tag: []byte("/jdc/")}, extranonceSize)
	if err != nil {
		t.Fatal(err)
	}
	d, err := coinbase.ParseDeclared(cb.FullPrefix(), cb.FullSuffix())
	if err != nil {
		t.Fatal(err)
	}
	return &declaredJob{
		declare: &sv2.DeclareMiningJob{MiningJobToken: alloc.MiningJobToken, Version: tmpl.nt.Version,
			CoinbaseTxPrefix: cb.FullPrefix(), CoinbaseTxSuffix: cb.FullSuffix(), WtxidList: wtxids},
		custom: &sv2.SetCustomMiningJob{
			Version: tmpl.nt.Version, PrevHash: tmpl.snph.PrevHash, MinNTime: tmpl.snph.HeaderTimestamp, NBits: tmpl.snph.NBits,
			CoinbaseTxVersion: d.TxVersion, CoinbasePrefix: d.ScriptSigPrefix, CoinbaseTxInputNSequence: d.Sequence,
			CoinbaseTxOutputs: d.Outputs, CoinbaseTxLocktime: d.Locktime, MerklePath: merkle.Path(txids),
		},
		txs: txs,
	}
}

// declare sends a job's declaration and answers ProvideMissingTransactions
// from its transactions; it returns the JDS's answer.
func (c *jdClient) declare(t testing.TB, j *declaredJob) sv2.Message {
	t.Helper()
	c.req++
	j.declare.RequestID = c.req
	c.send(t, j.declare)
	for {
		select {
		case m := <-c.msgs:
			pm, ok := m.(*sv2.ProvideMissingTransactions)
			if !ok {
				return m
			}
			if pm.RequestID != c.req {
				t.Fatalf("missing transactions asked for request %d, want %d", pm.RequestID, c.req)
			}
			var list [][]byte
			for _, pos := range pm.UnknownTxPositionList {
				list = append(list, j.txs[pos])
			}
			c.send(t, &sv2.ProvideMissingTransactionsSuccess{RequestID: c.req, TransactionList: list})
		case <-time.After(time.Minute):
			t.Fatal("no answer to DeclareMiningJob within a minute")
		}
	}
}

// jdcMiner is the mining side of a test JDC: one extended channel on the
// pool with REQUIRES_WORK_SELECTION.
type jdcMiner struct {
	*testMiner
	open *sv2.OpenExtendedMiningChannelSuccess
}

func startJDCMiner(t *testing.T, pl *jdPool, user string) *jdcMiner {
	t.Helper()
	m := startMiner(t, pl.addr, pl.key, mining.FlagRequiresWorkSelection)
	m.send(t, &sv2.OpenExtendedMiningChannel{RequestID: 1, UserIdentity: user, NominalHashRate: tinyHashrate, MaxTarget: maxTarget, MinExtranonceSize: 8})
	return &jdcMiner{testMiner: m, open: expect[*sv2.OpenExtendedMiningChannelSuccess](t, m, time.Minute)}
}

func (m *jdcMiner) extranonceSize() int {
	return len(m.open.ExtranoncePrefix) + int(m.open.ExtranonceSize)
}

// setJob sends SetCustomMiningJob with token and returns the pool's answer.
func (m *jdcMiner) setJob(t *testing.T, j *declaredJob, token []byte) sv2.Message {
	t.Helper()
	scm := *j.custom
	scm.ChannelID, scm.MiningJobToken = m.open.ChannelID, token
	m.seq++
	scm.RequestID = m.seq
	m.send(t, &scm)
	deadline := time.After(time.Minute)
	for {
		select {
		case msg := <-m.msgs:
			switch x := msg.(type) {
			case *sv2.SetCustomMiningJobSuccess, *sv2.SetCustomMiningJobError:
				return x
			}
		case <-deadline:
			t.Fatal("no answer to SetCustomMiningJob within a minute")
		}
	}
}

// solve grinds a header for job j with the channel's extranonce and
// returns the share and the block it makes (regtest: most shares are).
func (m *jdcMiner) solve(t *testing.T, j *declaredJob, jobID uint32) (*sv2.SubmitSharesExtended, *wire.MsgBlock) {
	t.Helper()
	scm := *j.custom
	cb, _, err := coinbase.FromCustomJob(&scm, m.extranonceSize())
	if err != nil {
		t.Fatal(err)
	}
	rollable := make([]byte, m.open.ExtranonceSize)
	rand.Read(rollable)
	full := append(append([]byte(nil), m.open.ExtranoncePrefix...), rollable...)
	h := block.Header{Version: scm.Version, PrevHash: scm.PrevHash, MerkleRoot: merkle.Root(cb.TxID(full), scm.MerklePath),
		NTime: max(scm.MinNTime, uint32(time.Now().Unix())), NBits: scm.NBits}
	network, _ := target.FromCompact(scm.NBits)
	for ; ; h.Nonce++ {
		hash := h.Hash()
		if target.Meets(&hash, &network) && target.Meets(&hash, &m.open.Target) {
			break
		}
	}
	blk, err := block.Assemble(h, cb.AppendTx(nil, full), j.txs)
	if err != nil {
		t.Fatal(err)
	}
	m.seq++
	return &sv2.SubmitSharesExtended{ChannelID: m.open.ChannelID, SequenceNumber: m.seq, JobID: jobID,
		Nonce: h.Nonce, NTime: h.NTime, Version: h.Version, Extranonce: rollable}, blk
}

func setupJDNode(t testing.TB, ctx context.Context, opts harness.NodeOptions, txs int) (*harness.Node, []*wire.MsgTx) {
	t.Helper()
	n := harness.StartNode(t, opts)
	if _, err := n.Generate(ctx, 101); err != nil {
		t.Fatal(err)
	}
	if txs == 0 {
		return n, nil
	}
	sent, err := n.SendSegWitTxs(ctx, txs)
	if err != nil {
		t.Fatal(err)
	}
	return n, sent
}

// Full-template mode end to end: allocate → declare the node's mempool
// transactions → .Success; the pool accepts the matching custom job, and
// the block found on it, submitted by the pool with the declared
// transactions, is accepted by the node.
func TestJDFullTemplateBlockAccepted(t *testing.T) {
	t.Parallel()
	harness.EachNode(t, func(t *testing.T, kind harness.Kind) {
		ctx := testContext(t, 3*time.Minute)
		n, sent := setupJDNode(t, ctx, harness.NodeOptions{Kind: kind}, 5)
		pl := startJDPool(t, n, nil)
		height, _ := n.Client().GetBlockCount(ctx)
		tmpl := takeTemplate(t, startTP(t, n, nil))
		if len(tmpl.txs) != len(sent) {
			t.Fatalf("template of %d transactions, want %d", len(tmpl.txs), len(sent))
		}
		jdc := startJDClient(t, pl.jdsAddr, pl.key, jdserver.FlagDeclareTxData)
		miner := startJDCMiner(t, pl, "carol")
		alloc := jdc.allocate(t, "carol")
		job := buildJob(t, tmpl, alloc, miner.extranonceSize(), tmpl.txs)
		ok, isOK := jdc.declare(t, job).(*sv2.DeclareMiningJobSuccess)
		if !isOK {
			t.Fatal("declaration refused")
		}
		tok, err := jdtoken.Verify(ok.NewMiningJobToken, pl.key)
		if err != nil || tok.Kind != jdtoken.Declared {
			t.Fatalf("declared token %+v: %v", tok, err)
		}
		succ, isSucc := miner.setJob(t, job, ok.NewMiningJobToken).(*sv2.SetCustomMiningJobSuccess)
		if !isSucc {
			t.Fatal("the pool refused the declared job")
		}
		share, want := miner.solve(t, job, succ.JobID)
		miner.send(t, share)
		if ack := expect[*sv2.SubmitSharesSuccess](t, miner.testMiner, time.Minute); ack.NewSubmitsAcceptedCount != 1 {
			t.Fatalf("share acknowledged as %+v", ack)
		}
		got := blockAt(t, ctx, n.Client(), height+1)
		if got.BlockHash() != want.BlockHash() || len(got.Transactions) != 1+len(sent) {
			t.Fatalf("block %s with %d transactions, want %s with %d", got.BlockHash(), len(got.Transactions), want.BlockHash(), 1+len(sent))
		}
		if outs := poolOutputs(got); len(outs) == 0 || !bytes.Equal(outs[0].PkScript, pl.payout) {
			t.Errorf("coinbase outputs %v, want the pool payout first", outs)
		}
		if st := pl.pool.Stats(); st.Users["carol"].Accepted != 1 || st.Users["carol"].Blocks != 1 {
			t.Errorf("accounting %+v", st.Users["carol"])
		}
	})
}

// Two btcd nodes, the JDS's taking no relayed transactions (--blocksonly):
// the JDC declares transactions only the other node has, provides them
// when asked, and the block with them is accepted.
func TestJDMissingTransactionsProvided(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	minerNode, sent := setupJDNode(t, ctx, harness.NodeOptions{P2P: true}, 0)
	poolNode := harness.StartNode(t, harness.NodeOptions{ExtraArgs: []string{"--blocksonly", "--connect=" + minerNode.P2PAddr()}})
	waitSameTip(t, ctx, minerNode, poolNode)
	sent, err := minerNode.SendSegWitTxs(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if pool, _ := poolNode.Client().GetRawMempool(ctx); len(pool) != 0 {
		t.Fatalf("the --blocksonly node has %d mempool transactions", len(pool))
	}
	pl := startJDPool(t, poolNode, nil)
	height, _ := poolNode.Client().GetBlockCount(ctx)
	tmpl := takeTemplate(t, startTP(t, minerNode, nil))
	jdc := startJDClient(t, pl.jdsAddr, pl.key, jdserver.FlagDeclareTxData)
	miner := startJDCMiner(t, pl, "dave")
	job := buildJob(t, tmpl, jdc.allocate(t, "dave"), miner.extranonceSize(), tmpl.txs)

	jdc.req++
	job.declare.RequestID = jdc.req
	jdc.send(t, job.declare)
	pm := nextJD[*sv2.ProvideMissingTransactions](t, jdc)
	if len(pm.UnknownTxPositionList) != len(sent) {
		t.Fatalf("asked for positions %v, want all %d", pm.UnknownTxPositionList, len(sent))
	}
	var list [][]byte
	for _, pos := range pm.UnknownTxPositionList {
		list = append(list, tmpl.txs[pos])
	}
	jdc.send(t, &sv2.ProvideMissingTransactionsSuccess{RequestID: jdc.req, TransactionList: list})
	ok := nextJD[*sv2.DeclareMiningJobSuccess](t, jdc)
	succ, isSucc := miner.setJob(t, job, ok.NewMiningJobToken).(*sv2.SetCustomMiningJobSuccess)
	if !isSucc {
		t.Fatal("the pool refused the declared job")
	}
	share, want := miner.solve(t, job, succ.JobID)
	miner.send(t, share)
	got := blockAt(t, ctx, poolNode.Client(), height+1)
	if got.BlockHash() != want.BlockHash() || len(got.Transactions) != 1+len(sent) {
		t.Fatalf("block %s with %d transactions, want %s with %d", got.BlockHash(), len(got.Transactions), want.BlockHash(), 1+len(sent))
	}
	for _, tx := range sent {
		if !containsTx(got, tx.TxHash()) {
			t.Errorf("block lacks provided transaction %s", tx.TxHash())
		}
	}
}

// waitSameTip waits until b has a's best block.
func waitSameTip(t *testing.T, ctx context.Context, a, b *harness.Node) {
	t.Helper()
	for {
		want, err := a.Client().GetBestBlockHash(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := b.Client().GetBestBlockHash(ctx); err == nil && got == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("the nodes never reached the same tip")
		case <-time.After(50 * time.Millisecond): // btcd tells no one of a synced block here
		}
	}
}

// What the JDS and the pool refuse: a declaration spending an output that
// does not exist (the node's reason), one on an old tip; and, with the
// spec's code, a reused, expired, forged or foreign token and a job whose
// fields differ from its declaration.
func TestJDRefusals(t *testing.T) {
	t.Parallel()
	harness.EachNode(t, func(t *testing.T, kind harness.Kind) {
		ctx := testContext(t, 3*time.Minute)
		n, _ := setupJDNode(t, ctx, harness.NodeOptions{Kind: kind}, 3)
		pl := startJDPool(t, n, nil)
		tpp := startTP(t, n, nil)
		tmpl := takeTemplate(t, tpp)
		jdc := startJDClient(t, pl.jdsAddr, pl.key, jdserver.FlagDeclareTxData)
		miner := startJDCMiner(t, pl, "erin")
		size := miner.extranonceSize()
		declared := func() (*declaredJob, []byte) {
			t.Helper()
			job := buildJob(t, tmpl, jdc.allocate(t, "erin"), size, tmpl.txs)
			ok, isOK := jdc.declare(t, job).(*sv2.DeclareMiningJobSuccess)
			if !isOK {
				t.Fatal("declaration refused")
			}
			return job, ok.NewMiningJobToken
		}
		refused := func(name string, m sv2.Message, code string) {
			t.Helper()
			e, ok := m.(*sv2.SetCustomMiningJobError)
			if !ok || e.ErrorCode != code {
				t.Errorf("%s: %+v, want SetCustomMiningJob.Error %s", name, m, code)
			}
		}

		// A transaction spending nothing that exists.
		bogus := wire.NewMsgTx(2)
		var op wire.OutPoint
		rand.Read(op.Hash[:])
		bogus.AddTxIn(&wire.TxIn{PreviousOutPoint: op, Sequence: wire.MaxTxInSequenceNum, Witness: wire.TxWitness{make([]byte, 72), make([]byte, 33)}})
		bogus.AddTxOut(&wire.TxOut{Value: 10_000, PkScript: pl.payout})
		var buf bytes.Buffer
		bogus.Serialize(&buf)
		job := buildJob(t, tmpl, jdc.allocate(t, "erin"), size, append(append([][]byte(nil), tmpl.txs...), buf.Bytes()))
		e, ok := jdc.declare(t, job).(*sv2.DeclareMiningJobError)
		if !ok || e.ErrorCode != jdserver.CodeRejectedByNode || !strings.Contains(string(e.ErrorDetails), "missing") && !strings.Contains(string(e.ErrorDetails), "spent") {
			t.Errorf("a missing input: %+v, want %s with the node's reason", e, jdserver.CodeRejectedByNode)
		} else {
			t.Logf("the node's reason: %s", e.ErrorDetails)
		}

		// The pool: a declared job it accepts once.
		job, token := declared()
		if _, ok := miner.setJob(t, job, token).(*sv2.SetCustomMiningJobSuccess); !ok {
			t.Fatal("the pool refused the declared job")
		}
		refused("reused", miner.setJob(t, job, token), mining.CodeInvalidMiningJobToken)
		job, token = declared()
		forged := bytes.Clone(token)
		forged[len(forged)-1] ^= 1
		refused("forged", miner.setJob(t, job, forged), mining.CodeInvalidMiningJobToken)
		other, _, _ := noise.GenerateAuthorityKeyPair(nil)
		parsed, _ := jdtoken.Parse(token)
		foreign, _ := parsed.Sign(other, nil)
		refused("another JDS's", miner.setJob(t, job, foreign), mining.CodeInvalidMiningJobToken)
		differ := *job
		c := *job.custom
		c.MerklePath = append([]sv2.U256(nil), c.MerklePath...)
		c.MerklePath[0][0] ^= 1 // other transactions than declared
		differ.custom = &c
		refused("fields differ", miner.setJob(t, &differ, token), mining.CodeInvalidMiningJobToken)
		pl.clock.advance(jdserver.DefaultTokenLifetime + time.Minute)
		refused("expired", miner.setJob(t, job, token), mining.CodeInvalidMiningJobToken)
		pl.clock.advance(-(jdserver.DefaultTokenLifetime + time.Minute))
		if _, ok := miner.setJob(t, job, token).(*sv2.SetCustomMiningJobSuccess); !ok {
			t.Error("the token refused above as expired, forged or mismatched was spent")
		}

		// A declaration on an old tip, once the JDS has seen the new one.
		old := tmpl
		if _, err := n.Generate(ctx, 1); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			m := jdc.declare(t, buildJob(t, old, jdc.allocate(t, "erin"), size, nil))
			if e, ok := m.(*sv2.DeclareMiningJobError); ok && e.ErrorCode == jdserver.CodeStaleChainTip {
				break
			}
			if _, ok := m.(*sv2.DeclareMiningJobSuccess); !ok || time.Now().After(deadline) {
				t.Fatalf("a job on the old tip: %+v, want %s", m, jdserver.CodeStaleChainTip)
			}
			time.Sleep(100 * time.Millisecond) // the JDS's provider has yet to tell it; no event reaches the test
		}
	})
}

// Coinbase-only mode: no declaration; the pool judges the custom job by its
// coinbase, and the JDC, the only one with the transactions, submits the
// block.
func TestJDCoinbaseOnly(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	n, sent := setupJDNode(t, ctx, harness.NodeOptions{}, 2)
	pl := startJDPool(t, n, nil)
	height, _ := n.Client().GetBlockCount(ctx)
	tmpl := takeTemplate(t, startTP(t, n, nil))
	jdc := startJDClient(t, pl.jdsAddr, pl.key, 0)
	miner := startJDCMiner(t, pl, "frank")
	alloc := jdc.allocate(t, "frank")
	if tok, err := jdtoken.Verify(alloc.MiningJobToken, pl.key); err != nil || tok.Kind != jdtoken.CoinbaseOnly {
		t.Fatalf("coinbase-only token %+v: %v", tok, err)
	}
	job := buildJob(t, tmpl, alloc, miner.extranonceSize(), tmpl.txs)
	if e, ok := jdc.declare(t, job).(*sv2.DeclareMiningJobError); !ok || e.ErrorCode != jdserver.CodeNotFullTemplate {
		t.Errorf("a declaration in coinbase-only mode: %+v", e)
	}
	succ, ok := miner.setJob(t, job, alloc.MiningJobToken).(*sv2.SetCustomMiningJobSuccess)
	if !ok {
		t.Fatal("the pool refused the coinbase-only job")
	}
	share, blk := miner.solve(t, job, succ.JobID)
	miner.send(t, share)
	if ack := expect[*sv2.SubmitSharesSuccess](t, miner.testMiner, time.Minute); ack.NewSubmitsAcceptedCount != 1 {
		t.Fatalf("share acknowledged as %+v", ack)
	}
	if err := n.Client().SubmitBlock(ctx, blk); err != nil {
		t.Fatalf("the JDC's block: %v", err)
	}
	got := blockAt(t, ctx, n.Client(), height+1)
	if got.BlockHash() != blk.BlockHash() || len(got.Transactions) != 1+len(sent) {
		t.Fatalf("block %s with %d transactions, want %s", got.BlockHash(), len(got.Transactions), blk.BlockHash())
	}
	if st := pl.pool.Stats(); st.Users["frank"].Accepted != 1 {
		t.Errorf("accounting %+v", st.Users["frank"])
	}
}

// PushSolution: a standalone JDS rebuilds the block from the declaration
// and the solution, and the node accepts it.
func TestJDPushSolution(t *testing.T) {
	t.Parallel()
	harness.EachNode(t, func(t *testing.T, kind harness.Kind) {
		ctx := testContext(t, 3*time.Minute)
		n, sent := setupJDNode(t, ctx, harness.NodeOptions{Kind: kind}, 3)
		tpp := startTP(t, n, nil)
		sk, pk, _ := noise.GenerateAuthorityKeyPair(nil)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		payout, _ := txscript.PayToAddrScript(newAddress(t))
		harness.Go(t, "jds", func(ctx context.Context) error {
			return jds.Run(ctx, jds.Config{Listener: ln, AuthorityKey: &sk, Network: "regtest", Node: n.ClientConfig(),
				TemplateProvider: jdserver.TemplateProvider{Address: tpp.addr, AuthorityKey: &tpp.key}, PayoutScript: payout,
				Logger: testLogger(t, "jds")})
		})
		height, _ := n.Client().GetBlockCount(ctx)
		tmpl := takeTemplate(t, tpp)
		jdc := startJDClient(t, ln.Addr().String(), pk, jdserver.FlagDeclareTxData)
		const extranonceSize = 16
		job := buildJob(t, tmpl, jdc.allocate(t, "gina"), extranonceSize, tmpl.txs)
		if _, ok := jdc.declare(t, job).(*sv2.DeclareMiningJobSuccess); !ok {
			t.Fatal("declaration refused")
		}
		cb, _, err := coinbase.FromCustomJob(job.custom, extranonceSize)
		if err != nil {
			t.Fatal(err)
		}
		ext := bytes.Repeat([]byte{0x5a}, extranonceSize)
		h := block.Header{Version: job.custom.Version, PrevHash: job.custom.PrevHash, MerkleRoot: merkle.Root(cb.TxID(ext), job.custom.MerklePath),
			NTime: max(job.custom.MinNTime, uint32(time.Now().Unix())), NBits: job.custom.NBits}
		network, _ := target.FromCompact(h.NBits)
		for hash := h.Hash(); !target.Meets(&hash, &network); hash = h.Hash() {
			h.Nonce++
		}
		jdc.send(t, &sv2.PushSolution{Extranonce: ext, PrevHash: h.PrevHash, Nonce: h.Nonce, NTime: h.NTime, NBits: h.NBits, Version: h.Version})
		got := blockAt(t, ctx, n.Client(), height+1)
		if sv2.U256(got.BlockHash()) != h.Hash() || len(got.Transactions) != 1+len(sent) {
			t.Fatalf("block %s with %d transactions, want %s with %d", got.BlockHash(), len(got.Transactions), chainhash.Hash(h.Hash()), 1+len(sent))
		}
	})
}
