// Package block builds block headers and whole blocks from mining solutions:
// the 80-byte header and its hash for share validation, and the full block
// (github.com/btcsuite/btcd/wire/v2) for submitblock.
package block

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/sha256d"
	"github.com/stratumgo/stratum/core/sv2"
)

// Errors callers may branch on.
var (
	// ErrBadTransaction reports a transaction that does not deserialize.
	ErrBadTransaction = errors.New("block: malformed transaction")
	// ErrMismatch reports a solution, header or transaction list that does
	// not belong with the rest: another template, a merkle root that does not
	// commit to the transactions, a transaction not the one declared.
	ErrMismatch = errors.New("block: parts do not match")
)

// Header is a block header with hashes in internal (wire) byte order.
type Header struct {
	Version    uint32
	PrevHash   sv2.U256
	MerkleRoot sv2.U256
	NTime      uint32
	NBits      uint32
	Nonce      uint32
}

// Bytes returns the 80-byte serialization of h.
func (h *Header) Bytes() [80]byte {
	var b [80]byte
	binary.LittleEndian.PutUint32(b[0:], h.Version)
	copy(b[4:36], h.PrevHash[:])
	copy(b[36:68], h.MerkleRoot[:])
	binary.LittleEndian.PutUint32(b[68:], h.NTime)
	binary.LittleEndian.PutUint32(b[72:], h.NBits)
	binary.LittleEndian.PutUint32(b[76:], h.Nonce)
	return b
}

// Hash returns the block hash (double SHA-256 of the header) in internal byte
// order, which is also the little-endian number compared with targets.
func (h *Header) Hash() sv2.U256 {
	b := h.Bytes()
	mid := sha256d.Midstate((*[64]byte)(b[:64]))
	return sha256d.Header(&mid, (*[16]byte)(b[64:]))
}

// Wire returns h as a btcd header.
func (h *Header) Wire() wire.BlockHeader {
	return wire.BlockHeader{
		Version:    int32(h.Version),
		PrevBlock:  chainhash.Hash(h.PrevHash),
		MerkleRoot: chainhash.Hash(h.MerkleRoot),
		Timestamp:  timeOf(h.NTime),
		Bits:       h.NBits,
		Nonce:      h.Nonce,
	}
}

// Assemble builds the full block from a header, the complete coinbase
// transaction (with its BIP141 witness when the template is SegWit) and the
// template's other transactions, serialized with witnesses, in block order. It
// checks that the header's merkle root commits to exactly these transactions.
func Assemble(h Header, coinbaseTx []byte, txs [][]byte) (*wire.MsgBlock, error) {
	blk, txids, err := parse(h, coinbaseTx, txs)
	if err != nil {
		return nil, err
	}
	if root := merkle.RootFromTxIDs(txids); root != h.MerkleRoot {
		return nil, fmt.Errorf("%w: header merkle root %x, the transactions' %x", ErrMismatch, h.MerkleRoot, root)
	}
	return blk, nil
}

// parse deserializes the coinbase and txs into a block under h and returns
// their txids, the coinbase's first.
func parse(h Header, coinbaseTx []byte, txs [][]byte) (*wire.MsgBlock, []sv2.U256, error) {
	blk := &wire.MsgBlock{Header: h.Wire(), Transactions: make([]*wire.MsgTx, 0, 1+len(txs))}
	txids := make([]sv2.U256, 0, 1+len(txs))
	for i := -1; i < len(txs); i++ {
		raw := coinbaseTx
		if i >= 0 {
			raw = txs[i]
		}
		tx := new(wire.MsgTx)
		r := bytes.NewReader(raw)
		if err := tx.Deserialize(r); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrBadTransaction, txName(i), err)
		}
		if r.Len() != 0 {
			return nil, nil, fmt.Errorf("%w: %s: %d trailing bytes", ErrBadTransaction, txName(i), r.Len())
		}
		blk.Transactions = append(blk.Transactions, tx)
		txids = append(txids, sv2.U256(tx.TxHash()))
	}
	return blk, txids, nil
}

// txName names transaction i of a template's list, -1 being the coinbase.
func txName(i int) string {
	if i < 0 {
		return "coinbase"
	}
	return fmt.Sprintf("transaction %d", i)
}

// Serialize returns the block's wire serialization (with witnesses), the hex of which submitblock takes.
func Serialize(b *wire.MsgBlock) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(b.SerializeSize())
	if err := b.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("block: serialize: %w", err)
	}
	return buf.Bytes(), nil
}
