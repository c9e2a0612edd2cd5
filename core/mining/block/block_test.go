package block_test

import (
	"bytes"
	"compress/bzip2"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// regtestTemplate is what a template provider on regtest would send: a NewTemplate
// and the transactions it stands for.
type regtestTemplate struct {
	tmpl *sv2.NewTemplate
	txs  []*wire.MsgTx
}

// makeTx returns a transaction spending a made-up outpoint; with witness it
// carries a P2WPKH-shaped witness so its wtxid differs from its txid.
func makeTx(rng *rand.Rand, witness bool) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	var prev chainhash.Hash
	for i := range prev {
		prev[i] = byte(rng.UintN(256))
	}
	in := wire.NewTxIn(wire.NewOutPoint(&prev, rng.Uint32N(4)), nil, nil)
	if witness {
		sig := make([]byte, 71)
		key := make([]byte, 33)
		for i := range sig {
			sig[i] = byte(rng.UintN(256))
		}
		key[0] = 2
		in.Witness = wire.TxWitness{sig, key}
	} else {
		in.SignatureScript = []byte{0x51, byte(rng.UintN(256))} // OP_TRUE and a byte of entropy
	}
	tx.AddTxIn(in)
	pk := append([]byte{0x00, 0x14}, make([]byte, 20)...)
	tx.AddTxOut(wire.NewTxOut(int64(1000+rng.UintN(100000)), pk))
	return tx
}

func newRegtestTemplate(t *testing.T, ntx int, segwit bool, seed uint64) regtestTemplate {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	rt := regtestTemplate{}
	txids := make([]sv2.U256, ntx)
	wtxids := make([]sv2.U256, ntx)
	for i := range ntx {
		tx := makeTx(rng, segwit && i%2 == 0)
		rt.txs = append(rt.txs, tx)
		txids[i] = sv2.U256(tx.TxHash())
		wtxids[i] = sv2.U256(tx.WitnessHash())
	}
	var outputs []byte
	count := uint32(0)
	if segwit {
		script := coinbase.WitnessCommitmentScript(wtxids)
		outputs = binary.LittleEndian.AppendUint64(outputs, 0)
		outputs = append(outputs, byte(len(script)))
		outputs = append(outputs, script...)
		count = 1
	}
	rt.tmpl = &sv2.NewTemplate{
		TemplateID:               uint64(ntx) + 1,
		Version:                  0x20000000,
		CoinbaseTxVersion:        2,
		CoinbasePrefix:           []byte{0x02, 0xf4, 0x01}, // BIP34 height 500
		CoinbaseTxInputSequence:  0xffffffff,
		CoinbaseTxValueRemaining: 50_0000_0000 + 12345,
		CoinbaseTxOutputsCount:   count,
		CoinbaseTxOutputs:        outputs,
		MerklePath:               merkle.Path(txids),
	}
	return rt
}

func serialize(t *testing.T, tx *wire.MsgTx) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var poolConfig = coinbase.Config{
	Outputs: []*wire.TxOut{
		{Value: 0, PkScript: append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0xab}, 20)...)},
		{Value: 1000, PkScript: append([]byte{0x51, 0x20}, bytes.Repeat([]byte{0xcd}, 32)...)},
	},
	Tag: []byte("/stratumgo/"),
}

// TestAssembledBlocksPassBtcdConsensusChecks mines regtest-like templates into blocks and
// hands them to btcd's own checks.
func TestAssembledBlocksPassBtcdConsensusChecks(t *testing.T) {
	params := chaincfg.RegressionNetParams
	bits := params.PowLimitBits
	netTarget, err := target.FromCompact(bits)
	if err != nil {
		t.Fatal(err)
	}
	for _, segwit := range []bool{false, true} {
		for _, ntx := range []int{0, 1, 2, 3, 7, 2000} {
			t.Run(fmt.Sprintf("segwit=%v/txs=%d", segwit, ntx), func(t *testing.T) {
				rt := newRegtestTemplate(t, ntx, segwit, uint64(ntx))
				cb, err := coinbase.New(rt.tmpl, poolConfig, 8)
				if err != nil {
					t.Fatal(err)
				}
				if cb.SegWit() != segwit {
					t.Fatalf("SegWit() = %v, want %v", cb.SegWit(), segwit)
				}
				extranonce := []byte{1, 2, 3, 4, 5, 6, 7, 8}
				full := cb.AppendTx(nil, extranonce)

				// Our stripped txid equals btcd's TxHash of the full SegWit coinbase.
				var cbTx wire.MsgTx
				if err := cbTx.Deserialize(bytes.NewReader(full)); err != nil {
					t.Fatal(err)
				}
				if got, want := cb.TxID(extranonce), sv2.U256(cbTx.TxHash()); got != want {
					t.Fatalf("txid %x, btcd %x", got, want)
				}
				if cbTx.HasWitness() != segwit {
					t.Fatalf("coinbase HasWitness = %v", cbTx.HasWitness())
				}
				var total int64
				for _, o := range cbTx.TxOut {
					total += o.Value
				}
				if total != int64(rt.tmpl.CoinbaseTxValueRemaining) {
					t.Fatalf("outputs sum to %d, want %d", total, rt.tmpl.CoinbaseTxValueRemaining)
				}

				h := block.Header{
					Version:    rt.tmpl.Version,
					PrevHash:   sv2.U256(*params.GenesisHash),
					MerkleRoot: merkle.Root(cb.TxID(extranonce), rt.tmpl.MerklePath),
					NTime:      uint32(time.Now().Unix()),
					NBits:      bits,
				}
				for hash := h.Hash(); !target.Meets(&hash, &netTarget); hash = h.Hash() {
					h.Nonce++
				}
				raw := make([][]byte, len(rt.txs))
				for i, tx := range rt.txs {
					raw[i] = serialize(t, tx)
				}
				msg, err := block.Assemble(h, full, raw)
				if err != nil {
					t.Fatal(err)
				}
				blk := btcutil.NewBlock(msg)
				if err := blockchain.CheckBlockSanity(blk, params.PowLimit, blockchain.NewMedianTime()); err != nil {
					t.Fatalf("CheckBlockSanity: %v", err)
				}
				if got := blockchain.CalcMerkleRoot(blk.Transactions(), false); sv2.U256(got) != h.MerkleRoot {
					t.Fatalf("btcd merkle root %v, ours %x", got, h.MerkleRoot)
				}
				if err := blockchain.ValidateWitnessCommitment(blk); err != nil {
					t.Fatalf("ValidateWitnessCommitment: %v", err)
				}
				if got := msg.BlockHash(); sv2.U256(got) != h.Hash() {
					t.Fatalf("btcd block hash %v, ours %x", got, h.Hash())
				}
				ser, err := block.Serialize(msg)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := btcutil.NewBlockFromBytes(ser); err != nil {
					t.Fatalf("serialized block does not parse: %v", err)
				}
			})
		}
	}
}

func TestAssembleRejectsWrongRoot(t *testing.T) {
	rt := newRegtestTemplate(t, 3, true, 9)
	cb, err := coinbase.New(rt.tmpl, poolConfig, 4)
	if err != nil {
		t.Fatal(err)
	}
	h := block.Header{MerkleRoot: merkle.Root(cb.TxID([]byte{1, 2, 3, 4}), rt.tmpl.MerklePath)}
	raw := [][]byte{serialize(t, rt.txs[1]), serialize(t, rt.txs[0]), serialize(t, rt.txs[2])} // reordered
	if _, err := block.Assemble(h, cb.AppendTx(nil, []byte{1, 2, 3, 4}), raw); err == nil {
		t.Fatal("Assemble accepted transactions that do not match the merkle root")
	}
	if _, err := block.Assemble(h, []byte{1, 2, 3}, nil); err == nil {
		t.Fatal("Assemble accepted a malformed coinbase")
	}
}

// loadMainnetBlock reads testdata/277647.dat.bz2 (see testdata/README.md).
func loadMainnetBlock(t *testing.T) *wire.MsgBlock {
	t.Helper()
	f, err := os.Open("testdata/277647.dat.bz2")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := io.ReadAll(bzip2.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 8 || binary.LittleEndian.Uint32(data) != uint32(wire.MainNet) {
		t.Fatal("testdata/277647.dat.bz2: not a mainnet block record")
	}
	n := binary.LittleEndian.Uint32(data[4:])
	var blk wire.MsgBlock
	if err := blk.Deserialize(bytes.NewReader(data[8 : 8+n])); err != nil {
		t.Fatal(err)
	}
	return &blk
}

// TestMainnetBlock277647 recomputes a real block's merkle root and hash from its coinbase and our merkle path.
func TestMainnetBlock277647(t *testing.T) {
	blk := loadMainnetBlock(t)
	if len(blk.Transactions) != 213 {
		t.Fatalf("block has %d transactions, want 213", len(blk.Transactions))
	}
	txids := make([]sv2.U256, len(blk.Transactions)-1)
	for i, tx := range blk.Transactions[1:] {
		txids[i] = sv2.U256(tx.TxHash())
	}
	path := merkle.Path(txids)
	cbTxID := merkle.DoubleSHA256(serializeNoWitness(t, blk.Transactions[0]))
	root := merkle.Root(cbTxID, path)
	if root != sv2.U256(blk.Header.MerkleRoot) {
		t.Fatalf("merkle root %x, block has %v", root, blk.Header.MerkleRoot)
	}
	h := block.Header{
		Version:    uint32(blk.Header.Version),
		PrevHash:   sv2.U256(blk.Header.PrevBlock),
		MerkleRoot: root,
		NTime:      uint32(blk.Header.Timestamp.Unix()),
		NBits:      blk.Header.Bits,
		Nonce:      blk.Header.Nonce,
	}
	if got, want := h.Hash(), sv2.U256(blk.BlockHash()); got != want {
		t.Fatalf("header hash %x, block %v", got, blk.BlockHash())
	}
	netTarget, err := target.FromCompact(h.NBits)
	if err != nil {
		t.Fatal(err)
	}
	if hash := h.Hash(); !target.Meets(&hash, &netTarget) {
		t.Fatal("block 277647 does not meet its own nBits")
	}
	t.Logf("block 277647: %d transactions, merkle path of %d hashes, hash %v", len(blk.Transactions), len(path), blk.BlockHash())
}

func serializeNoWitness(t *testing.T, tx *wire.MsgTx) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := tx.SerializeNoWitness(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
