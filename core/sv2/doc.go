// Package sv2 is the Stratum V2 wire format: the protocol's data types, the
// 6-byte frame header, and one Go type per message of the Common, Mining, Job
// Declaration and Template Distribution protocols (specification §3 and §5–§8).
//
// Every message appends its payload to a caller's buffer with AppendPayload and
// decodes itself from a payload with DecodePayload. Decoders never panic, check
// every declared length against the remaining input and the type's maximum
// before allocating, reject trailing bytes, and copy what they keep, so the
// caller may reuse the input buffer. Malformed input yields a *DecodeError
// naming the message and field.
//
// Field mapping: U8, U16, U24 (uint32), U32 and U64 are Go unsigned integers;
// F32 is float32; BOOL is bool (only the least significant bit is read, as §3.1
// requires); STR0_255 is a Go string holding the raw bytes, which need not be
// UTF-8; B0_32, B0_255, B0_64K, B0_16M and BYTES are []byte; U256 is [U256];
// PUBKEY is [Pubkey]; SIGNATURE is [Signature]; OPTION[T] is [Option]; SEQ0_255
// and SEQ0_64K are slices.
package sv2
