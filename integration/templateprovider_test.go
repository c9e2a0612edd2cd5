package integration

import (
	"bytes"
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/apps/templateprovider"
	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/integration/harness"
)

// tp is a template provider running in-process against a test's node.
type tp struct {
	addr string
	key  noise.PublicKey
	app  *harness.App
}

func startTP(t testing.TB, n *harness.Node, mutate func(*templateprovider.Config)) *tp {
	t.Helper()
	sk, pk, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startTPOn(t, n, ln, sk, pk, mutate)
}

// startTPWith starts a template provider with a given listener and key pair.
func startTPWith(t testing.TB, n *harness.Node, ln net.Listener, sk noise.SecretKey, pk noise.PublicKey) *tp {
	return startTPOn(t, n, ln, sk, pk, nil)
}

func startTPOn(t testing.TB, n *harness.Node, ln net.Listener, sk noise.SecretKey, pk noise.PublicKey, mutate func(*templateprovider.Config)) *tp {
	t.Helper()
	cfg := templateprovider.Config{
		Listener: ln, AuthorityKey: &sk, Node: n.ClientConfig(), Network: "regtest",
		TemplateInterval: 500 * time.Millisecond, Logger: testLogger(t, "tp"),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	app := harness.Go(t, "templateprovider", func(ctx context.Context) error { return templateprovider.Run(ctx, cfg) })
	return &tp{addr: ln.Addr().String(), key: pk, app: app}
}

// solve builds the coinbase a pool would (one OP_TRUE output taking the
// whole value, plus the template's outputs), grinds the nonce to the
// network target, and returns the SubmitSolution.
func solve(t *testing.T, nt *sv2.NewTemplate, snph *sv2.TemplateSetNewPrevHash) *sv2.SubmitSolution {
	t.Helper()
	return solveFrom(t, nt, snph, 0)
}

// solveFrom is solve grinding from nonce from, so that two solutions of one
// template make different blocks.
func solveFrom(t *testing.T, nt *sv2.NewTemplate, snph *sv2.TemplateSetNewPrevHash, from uint32) *sv2.SubmitSolution {
	t.Helper()
	cb, err := coinbase.New(nt, coinbase.Config{Outputs: []*wire.TxOut{wire.NewTxOut(0, []byte{txscript.OP_TRUE})}}, 8)
	if err != nil {
		t.Fatal(err)
	}
	ext := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	h := block.Header{
		Version: nt.Version, PrevHash: snph.PrevHash, MerkleRoot: merkle.Root(cb.TxID(ext), nt.MerklePath),
		NTime: snph.HeaderTimestamp, NBits: snph.NBits, Nonce: from,
	}
	for ; ; h.Nonce++ {
		hash := h.Hash()
		if target.Meets(&hash, &snph.Target) {
			break
		}
	}
	return &sv2.SubmitSolution{TemplateID: nt.TemplateID, Version: h.Version, HeaderTimestamp: h.NTime, HeaderNonce: h.Nonce, CoinbaseTx: cb.AppendTx(nil, ext)}
}

// TestTemplateProviderServesNode runs the provider against each node: the
// templates match the node's own, a solution becomes a block the node
// accepts, and new tips reach the clients fast.
func TestTemplateProviderServesNode(t *testing.T) {
	t.Parallel()
	harness.EachNode(t, func(t *testing.T, kind harness.Kind) {
		ctx := testContext(t, 3*time.Minute)
		n := harness.StartNode(t, harness.NodeOptions{Kind: kind})
		if _, err := n.Generate(ctx, 101); err != nil {
			t.Fatal(err)
		}
		// btcd rebuilds its template at once only on a new tip (bitcoind
		// after 5 s), so the transactions go in before the provider's first
		// request.
		sent, err := n.SendSegWitTxs(ctx, 20)
		if err != nil {
			t.Fatal(err)
		}
		p := startTP(t, n, nil)
		clients := []*tdClient{
			startTDClient(t, p.addr, p.key, sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: 100, CoinbaseOutputMaxAdditionalSigops: 4}),
			startTDClient(t, p.addr, p.key, sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: 34}),
			startTDClient(t, p.addr, p.key, sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: 500, CoinbaseOutputMaxAdditionalSigops: 40}),
		}
		tip, err := n.Client().Tip(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c := n.Client()
		nodeTmpl, err := c.GetBlockTemplate(ctx)
		if err != nil {
			t.Fatal(err)
		}

		// 1. A future template and its prev hash, matching what the node says.
		nt, snph, _ := nextTemplatePair(t, clients[0], time.Minute)
		wantPrefix, _ := txscript.NewScriptBuilder().AddInt64(tip.Height + 1).Script()
		var fees int64
		for i := range sent {
			fees += 1000 + 100*int64(i)
		}
		if !bytes.Equal(nt.CoinbasePrefix, wantPrefix) {
			t.Errorf("coinbase_prefix %x, want the BIP34 push of height %d (%x)", nt.CoinbasePrefix, tip.Height+1, wantPrefix)
		}
		if nt.CoinbaseTxValueRemaining != uint64(subsidy+fees) || nt.CoinbaseTxValueRemaining != uint64(nodeTmpl.CoinbaseValue) {
			t.Errorf("value remaining %d, want subsidy + fees = %d (%s: %d)", nt.CoinbaseTxValueRemaining, subsidy+fees, kind, nodeTmpl.CoinbaseValue)
		}
		if snph.PrevHash != sv2.U256(tip.Hash) || snph.NBits != nodeTmpl.Bits {
			t.Errorf("SetNewPrevHash prev %x bits %x, want %s and %x", snph.PrevHash, snph.NBits, tip.Hash, nodeTmpl.Bits)
		}
		wantTarget, _ := target.FromBig(nodeTmpl.Target)
		if snph.Target != wantTarget {
			t.Errorf("target %x, want %x", snph.Target, wantTarget)
		}

		// 2. The 20 transactions: merkle path consistent with the node's set, the
		// witness commitment, and the transactions themselves on request.
		var txids []sv2.U256
		for _, tx := range nodeTmpl.Transactions {
			txids = append(txids, sv2.U256(tx.TxID))
		}
		if len(txids) != 20 {
			t.Fatalf("%s's template has %d transactions, want 20", kind, len(txids))
		}
		someCoinbase := sv2.U256{0xaa}
		if got, want := merkle.Root(someCoinbase, nt.MerklePath), merkle.RootFromTxIDs(append([]sv2.U256{someCoinbase}, txids...)); got != want {
			t.Errorf("merkle path does not commit to %s's transactions", kind)
		}
		var commit wire.TxOut
		if nt.CoinbaseTxOutputsCount != 1 || wire.ReadTxOut(bytes.NewReader(nt.CoinbaseTxOutputs), 0, 0, &commit) != nil ||
			!bytes.Equal(commit.PkScript, nodeTmpl.DefaultWitnessCommitment) {
			t.Errorf("witness commitment output %x, %s's %x", nt.CoinbaseTxOutputs, kind, nodeTmpl.DefaultWitnessCommitment)
		}
		clients[0].send(t, &sv2.RequestTransactionData{TemplateID: nt.TemplateID})
		rtd, _ := next[*sv2.RequestTransactionDataSuccess](t, clients[0], 30*time.Second)
		if len(rtd.TransactionList) != 20 {
			t.Fatalf("RequestTransactionData returned %d transactions", len(rtd.TransactionList))
		}
		for i, raw := range rtd.TransactionList {
			var tx wire.MsgTx
			if err := tx.Deserialize(bytes.NewReader(raw)); err != nil || !tx.HasWitness() || sv2.U256(tx.TxHash()) != txids[i] {
				t.Errorf("transaction %d: witness %t, txid %s, err %v", i, tx.HasWitness(), tx.TxHash(), err)
			}
		}
		// The other clients got their templates too.
		for _, cl := range clients[1:] {
			nextTemplatePair(t, cl, time.Minute)
		}

		// 3. A solved template becomes a block the node accepts, and every client
		// gets a future template and a prev hash for the new tip.
		clients[0].send(t, solve(t, nt, snph))
		newTip := waitHeight(t, ctx, c, tip.Height+1)
		blk, err := c.GetBlock(ctx, newTip.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if len(blk.Transactions) != 21 {
			t.Errorf("accepted block has %d transactions, want the coinbase and 20", len(blk.Transactions))
		}
		for i, cl := range clients {
			_, s, _ := nextTemplatePair(t, cl, time.Minute)
			if s.PrevHash != sv2.U256(newTip.Hash) {
				t.Errorf("client %d: SetNewPrevHash for %x, want the new tip %s", i, s.PrevHash, newTip.Hash)
			}
		}
		if e := requestData(t, clients[0], nt.TemplateID); e.ErrorCode != templateprovider.CodeStaleTemplate {
			t.Errorf("template of the old tip: %q, want %s", e.ErrorCode, templateprovider.CodeStaleTemplate)
		}
		if e := requestData(t, clients[0], 1<<40); e.ErrorCode != templateprovider.CodeTemplateNotFound {
			t.Errorf("unknown template: %q", e.ErrorCode)
		}

		// 4. A block mined elsewhere reaches a client as SetNewPrevHash fast.
		start := time.Now()
		hashes, err := n.Generate(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		for {
			_, s, at := nextTemplatePair(t, clients[1], 10*time.Second)
			if s.PrevHash == sv2.U256(hashes[0]) {
				latency := at.Sub(start)
				t.Logf("generate 1 → SetNewPrevHash at the client: %v", latency)
				if latency > 200*time.Millisecond {
					t.Errorf("new prev hash took %v, want within 200ms", latency)
				}
				break
			}
		}
	})
}

func requestData(t *testing.T, c *tdClient, id uint64) *sv2.RequestTransactionDataError {
	t.Helper()
	c.send(t, &sv2.RequestTransactionData{TemplateID: id})
	e, _ := next[*sv2.RequestTransactionDataError](t, c, 30*time.Second)
	return e
}

// waitHeight polls until the node's tip is at height (there is no
// notification to wait on from here) and returns it.
func waitHeight(t *testing.T, ctx context.Context, c *node.Client, height int64) node.Tip {
	t.Helper()
	var last error
	for {
		tip, err := c.Tip(ctx)
		if err == nil && tip.Height >= height {
			return tip
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("node never reached height %d (last error %v)", height, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// 5. Coinbase constraints make the provider leave room in the block.
func TestTemplateProviderReservesCoinbaseSpace(t *testing.T) {
	t.Parallel()
	harness.EachNode(t, func(t *testing.T, kind harness.Kind) {
		ctx := testContext(t, 3*time.Minute)
		n := harness.StartNode(t, harness.NodeOptions{Kind: kind})
		if _, err := n.Generate(ctx, 101); err != nil {
			t.Fatal(err)
		}
		if _, err := n.SendSegWitTxs(ctx, 20); err != nil {
			t.Fatal(err)
		}
		p := startTP(t, n, nil)
		nodeTmpl, err := n.Client().GetBlockTemplate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var all int64
		for _, tx := range nodeTmpl.Transactions {
			all += weightOf(t, tx.Data)
		}
		// Ask for so much output space that the 20 transactions cannot all fit:
		// what is left of the block is less than their weight by ~2000 WU.
		size := uint32((4_000_000 - 1168 - all + 2000) / 4)
		c := startTDClient(t, p.addr, p.key, sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: size})
		nt, _, _ := nextTemplatePair(t, c, time.Minute)
		c.send(t, &sv2.RequestTransactionData{TemplateID: nt.TemplateID})
		rtd, _ := next[*sv2.RequestTransactionDataSuccess](t, c, 30*time.Second)
		var kept, keptFees int64
		for _, raw := range rtd.TransactionList {
			kept += weightOf(t, raw)
		}
		for _, tx := range nodeTmpl.Transactions {
			if slices.ContainsFunc(rtd.TransactionList, func(raw []byte) bool { return bytes.Equal(raw, tx.Data) }) {
				keptFees += tx.Fee
			}
		}
		reservation := 1168 + 4*int64(size)
		t.Logf("constraint %d bytes: kept %d of %d transactions, %d + %d WU reserved = %d ≤ 4,000,000", size, len(rtd.TransactionList), len(nodeTmpl.Transactions), kept, reservation, kept+reservation)
		if kept+reservation > 4_000_000 {
			t.Errorf("template weight %d + reservation %d exceeds the block limit", kept, reservation)
		}
		if len(rtd.TransactionList) >= len(nodeTmpl.Transactions) || len(rtd.TransactionList) == 0 {
			t.Errorf("kept %d of %d transactions; the reservation should drop some, not all", len(rtd.TransactionList), len(nodeTmpl.Transactions))
		}
		if got := int64(nt.CoinbaseTxValueRemaining); got != subsidy+keptFees {
			t.Errorf("value remaining %d, want subsidy + the kept transactions' fees = %d", got, subsidy+keptFees)
		}
	})
}

func weightOf(t *testing.T, raw []byte) int64 {
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	return int64(tx.SerializeSizeStripped()*3 + tx.SerializeSize())
}

// 7. A solution for a template id the provider never issued (as after a
// restart, when a pool resends an old session's solution) is refused, not
// guessed from the node's current template: the provider used to build the
// block from it, which on another tip or mempool is an invalid block.
// Solved here against the very template the node still serves, so a guess would
// even make a block the node accepts; a valid solution sent after it on the same
// connection is then the block at the next height only if the other was
// dropped.
func TestTemplateProviderRefusesAnUnknownTemplateID(t *testing.T) {
	t.Parallel()
	harness.EachNode(t, func(t *testing.T, kind harness.Kind) {
		ctx := testContext(t, 3*time.Minute)
		n := harness.StartNode(t, harness.NodeOptions{Kind: kind})
		if _, err := n.Generate(ctx, 101); err != nil {
			t.Fatal(err)
		}
		c := n.Client()
		height, err := c.GetBlockCount(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p := startTP(t, n, nil)
		cl := startTDClient(t, p.addr, p.key, sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: 50})
		nt, snph, _ := nextTemplatePair(t, cl, time.Minute)
		unknown := solve(t, nt, snph)
		unknown.TemplateID = nt.TemplateID + 1000
		good := solveFrom(t, nt, snph, unknown.HeaderNonce+1)
		cl.send(t, unknown)
		cl.send(t, good)
		tip := waitHeight(t, ctx, c, height+1)
		blk, err := c.GetBlock(ctx, tip.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if blk.Header.Nonce != good.HeaderNonce {
			t.Fatalf("%s's block %d has nonce %d, want the known template's solution (%d), not the unknown id's (%d)",
				kind, tip.Height, blk.Header.Nonce, good.HeaderNonce, unknown.HeaderNonce)
		}
	})
}

// 6. The node killed and restarted: the provider carries on.
func TestTemplateProviderSurvivesNodeRestart(t *testing.T) {
	t.Parallel()
	harness.EachNode(t, func(t *testing.T, kind harness.Kind) {
		ctx := testContext(t, 3*time.Minute)
		n := harness.StartNode(t, harness.NodeOptions{Kind: kind})
		if _, err := n.Generate(ctx, 5); err != nil {
			t.Fatal(err)
		}
		p := startTP(t, n, nil)
		c := startTDClient(t, p.addr, p.key, sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: 50})
		nextTemplatePair(t, c, time.Minute)
		if err := n.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := n.Restart(); err != nil {
			t.Fatal(err)
		}
		hashes, err := n.Generate(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		for {
			_, s, _ := nextTemplatePair(t, c, time.Minute)
			if s.PrevHash == sv2.U256(hashes[0]) {
				break
			}
		}
		select {
		case <-p.app.Done():
			t.Fatalf("template provider stopped: %v", p.app.Err())
		default:
		}
	})
}
