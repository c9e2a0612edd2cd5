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
	"github.com/stratumgo/stratum/core/sv2"
)

// ErrBadTransaction reports a transaction that does not deserialize.
var ErrBadTransaction = errors.New("block: malformed transaction")

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
	return merkle.DoubleSHA256(b[:])
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
	blk := &wire.MsgBlock{Header: h.Wire(), Transactions: make([]*wire.MsgTx, 0, 1+len(txs))}
	txids := make([]sv2.U256, 0, 1+len(txs))
	for i, raw := range append([][]byte{coinbaseTx}, txs...) {
		tx := new(wire.MsgTx)
		r := bytes.NewReader(raw)
		if err := tx.Deserialize(r); err != nil {
			return nil, fmt.Errorf("%w: transaction %d: %w", ErrBadTransaction, i, err)
		}
		if r.Len() != 0 {
			return nil, fmt.Errorf("%w: transaction %d: %d trailing bytes", ErrBadTransaction, i, r.Len())
		}
		blk.Transactions = append(blk.Transactions, tx)
		txids = append(txids, sv2.U256(tx.TxHash()))
	}
	if root := merkle.RootFromTxIDs(txids); root != h.MerkleRoot {
		return nil, fmt.Errorf("block: header merkle root %x does not match the transactions' %x", h.MerkleRoot, root)
	}
	return blk, nil
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
