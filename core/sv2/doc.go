// Package sv2 is the Stratum V2 wire format: the protocol's data types, the
// 6-byte frame header, and one Go type per message of the Common, Mining, Job
// Declaration and Template Distribution protocols (specification §3 and §5–§8)
// and of the Extensions Negotiation extension (0x0001), with the TLV fields of
// §3.4.3 and the user_identity field of Worker-Specific Hashrate Tracking
// (0x0002).
//
// Every message appends its payload to a caller's buffer with AppendPayload and
// decodes itself from a payload with DecodePayload. Decoders never panic, check
// every declared length against the remaining input and the type's maximum
// before allocating, and copy what they keep, so the caller may reuse the
// input buffer. Bytes after a message's fields must form a list of TLV fields
// (§3.4.3): SubmitSharesExtended keeps it, other messages, which no extension
// this package knows extends, check it and drop it; anything else left over
// is an error. Malformed input yields a *DecodeError naming the message and
// field ("tlv" for the TLV list).
//
// Field mapping: U8, U16, U24 (uint32), U32 and U64 are Go unsigned integers;
// F32 is float32; BOOL is bool (only the least significant bit is read, as §3.1
// requires); STR0_255 is a Go string holding the raw bytes, which need not be
// UTF-8; B0_32, B0_255, B0_64K, B0_16M and BYTES are []byte; U256 is [U256];
// PUBKEY is [Pubkey]; SIGNATURE is [Signature]; OPTION[T] is [Option]; SEQ0_255
// and SEQ0_64K are slices.
package sv2
