package transport

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratumgo/stratum/core/sv2"
)

// DefaultHandshakeTimeout bounds a Noise handshake when Config.HandshakeTimeout is zero.
const DefaultHandshakeTimeout = 10 * time.Second

// Buffers above this size are not kept between frames, so one large frame
// does not pin its memory for the life of the connection.
const keepBufferSize = 256 << 10

// Config holds a connection's limits. The zero value is usable.
type Config struct {
	// MaxFrameSize is the largest payload accepted from the peer, in bytes;
	// 0 means the protocol's limit, sv2.MaxPayloadSize. A larger frame is a
	// fatal error (ErrFrameTooLarge) and closes the connection.
	MaxFrameSize int
	// ReadTimeout, if non-zero, bounds the wait for each whole frame.
	ReadTimeout time.Duration
	// WriteTimeout, if non-zero, bounds the write of each frame.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds the Noise handshake; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
}

func (c Config) maxFrame() int {
	if c.MaxFrameSize <= 0 || c.MaxFrameSize > sv2.MaxPayloadSize {
		return sv2.MaxPayloadSize
	}
	return c.MaxFrameSize
}

func (c Config) handshakeTimeout() time.Duration {
	if c.HandshakeTimeout <= 0 {
		return DefaultHandshakeTimeout
	}
	return c.HandshakeTimeout
}

// Conn reads and writes whole Sv2 frames over a net.Conn, plain or encrypted
// with the cipher states of a Noise handshake (§4.6). One goroutine may read
// while others write; writes are serialized. Reading and writing reuse their
// buffers, so the steady path allocates nothing.
type Conn struct {
	nc        net.Conn
	cfg       Config
	handshake Handshake

	closeOnce sync.Once
	readShut  atomic.Bool // CloseRead was called

	rmu  sync.Mutex
	br   *bufio.Reader
	recv *cipherState // nil when plain
	rhdr [EncryptedHeaderSize]byte
	rbuf []byte
	rerr error // sticky: framing is lost after a read failure

	wmu  sync.Mutex
	send *cipherState // nil when plain
	whdr [sv2.HeaderSize]byte
	pbuf []byte // plaintext payload being encoded
	wbuf []byte // bytes for the wire
	werr error  // sticky: the peer's cipher state is out of step after a failed write
}

// NewPlain returns a Conn that sends frames unencrypted, as allowed on a local
// network (§4). Its Handshake reports Encrypted false.
func NewPlain(nc net.Conn, cfg Config) *Conn {
	return newConn(nc, cfg, Handshake{}, nil, nil)
}

func newConn(nc net.Conn, cfg Config, hs Handshake, send, recv *cipherState) *Conn {
	return &Conn{nc: nc, cfg: cfg, handshake: hs, send: send, recv: recv, br: bufio.NewReaderSize(nc, 8<<10)}
}

// Handshake describes how the connection was secured.
func (c *Conn) Handshake() Handshake { return c.handshake }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// SetReadDeadline sets the deadline for pending and future reads, as net.Conn does.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for pending and future writes, as net.Conn does.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// Close closes the underlying connection; blocked reads and writes return.
// Calls after the first return nil.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.nc.Close() })
	return err
}

// CloseRead stops reading without closing: a pending read and every later
// one return ErrReadClosed, and writing goes on, so that a server can write
// out its last messages before Close.
func (c *Conn) CloseRead() error {
	c.readShut.Store(true)
	return c.nc.SetReadDeadline(time.Unix(1, 0))
}

// ReadFrame reads the next frame. The payload is valid until the next call
// to ReadFrame or ReadMessage. Any error is fatal: the connection is closed,
// and later calls return the same error.
func (c *Conn) ReadFrame() (sv2.Header, []byte, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.readFrame()
}

// ReadMessage reads and decodes the next frame. A frame that does not decode
// returns its header and a *sv2.DecodeError but leaves the connection usable;
// transport errors are fatal as in ReadFrame. Messages of unknown types come
// back as *sv2.Unknown.
func (c *Conn) ReadMessage() (sv2.Header, sv2.Message, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	h, payload, err := c.readFrame()
	if err != nil {
		return h, nil, err
	}
	m, err := sv2.Decode(h, payload)
	return h, m, err
}

func (c *Conn) readFrame() (sv2.Header, []byte, error) {
	if c.rerr != nil {
		return sv2.Header{}, nil, c.rerr
	}
	if cap(c.rbuf) > keepBufferSize {
		c.rbuf = nil
	}
	if c.cfg.ReadTimeout > 0 {
		if err := c.nc.SetReadDeadline(time.Now().Add(c.cfg.ReadTimeout)); err != nil {
			return sv2.Header{}, nil, c.readFailed(err)
		}
	}
	if c.readShut.Load() { // after our deadline, which must not undo CloseRead's
		return sv2.Header{}, nil, c.readFailed(ErrReadClosed)
	}
	h, payload, err := c.readFrameLocked()
	if err != nil {
		return h, nil, c.readFailed(err)
	}
	return h, payload, nil
}

func (c *Conn) readFrameLocked() (sv2.Header, []byte, error) {
	hdr := c.rhdr[:sv2.HeaderSize]
	if c.recv != nil {
		hdr = c.rhdr[:EncryptedHeaderSize]
	}
	if _, err := io.ReadFull(c.br, hdr); err != nil {
		return sv2.Header{}, nil, err
	}
	if c.recv != nil {
		var err error
		if hdr, err = c.recv.open(hdr); err != nil {
			return sv2.Header{}, nil, fmt.Errorf("frame header: %w", err)
		}
	}
	h, err := sv2.ParseHeader(hdr)
	if err != nil {
		return h, nil, err
	}
	if int(h.Length) > c.cfg.maxFrame() {
		return h, nil, fmt.Errorf("%w: msg_type 0x%02x announces %d bytes, limit %d", ErrFrameTooLarge, h.MsgType, h.Length, c.cfg.maxFrame())
	}
	// The buffer grows one Noise block (or chunk) at a time as data arrives,
	// so a peer cannot make us allocate a large frame it never sends.
	c.rbuf = c.rbuf[:0]
	for remaining := int(h.Length); remaining > 0; {
		n := min(remaining, MaxBlockPlaintext)
		wire := n
		if c.recv != nil {
			wire += MACSize
		}
		start := len(c.rbuf)
		c.rbuf = slices.Grow(c.rbuf, wire)[:start+wire]
		if _, err := io.ReadFull(c.br, c.rbuf[start:]); err != nil {
			return h, nil, noEOF(err)
		}
		if c.recv != nil {
			if _, err := c.recv.open(c.rbuf[start:]); err != nil {
				return h, nil, fmt.Errorf("payload of msg_type 0x%02x: %w", h.MsgType, err)
			}
			c.rbuf = c.rbuf[:start+n]
		}
		remaining -= n
	}
	return h, c.rbuf, nil
}

// noEOF turns EOF inside a frame into ErrUnexpectedEOF: the peer left mid-frame.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (c *Conn) readFailed(err error) error {
	if c.readShut.Load() {
		c.rerr = ErrReadClosed // not a failure of the connection: keep it for writing
		return c.rerr
	}
	c.rerr = fmt.Errorf("transport: read from %s: %w", c.nc.RemoteAddr(), err)
	c.Close()
	return c.rerr
}

// WriteMessage encodes m and writes it as one frame, with any frames
// buffered before it. An encoding error leaves the connection usable; a write
// error is fatal and closes it.
func (c *Conn) WriteMessage(m sv2.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.appendMessage(m); err != nil {
		return err
	}
	return c.flush()
}

// BufferMessage encodes m into the write buffer without sending it, so that a
// writer with several frames queued makes one system call for all of them;
// Flush (or the next WriteMessage or WriteFrame) sends them. A buffer that
// grows past 64 KiB is sent at once.
func (c *Conn) BufferMessage(m sv2.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.appendMessage(m); err != nil {
		return err
	}
	if len(c.wbuf) >= flushThreshold {
		return c.flush()
	}
	return nil
}

// flushThreshold is the buffered size at which BufferMessage writes anyway.
const flushThreshold = 64 << 10

// Flush writes the frames buffered by BufferMessage.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	return c.flush()
}

// appendMessage adds m's frame to the write buffer; on an encoding error the
// buffer is as before.
func (c *Conn) appendMessage(m sv2.Message) error {
	if c.werr != nil {
		return c.werr
	}
	var err error
	if c.send == nil {
		// Plain frames are encoded straight into the wire buffer.
		c.wbuf, err = sv2.AppendFrame(c.wbuf, m)
		return err
	}
	if c.pbuf, err = m.AppendPayload(c.pbuf[:0]); err != nil {
		return err
	}
	h, err := sv2.HeaderFor(m, len(c.pbuf))
	if err != nil {
		return err
	}
	err = c.appendEncrypted(h, c.pbuf)
	if cap(c.pbuf) > keepBufferSize {
		c.pbuf = nil
	}
	return err
}

// WriteFrame writes a frame with the given header fields and payload as it is,
// for relaying frames without decoding them. h.Length is set from the payload.
func (c *Conn) WriteFrame(h sv2.Header, payload []byte) error {
	if len(payload) > sv2.MaxPayloadSize {
		return fmt.Errorf("transport: payload of %d bytes: %w", len(payload), sv2.ErrTooLong)
	}
	h.Length = uint32(len(payload))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	if c.send == nil {
		c.wbuf = append(h.AppendTo(c.wbuf), payload...)
	} else if err := c.appendEncrypted(h, payload); err != nil {
		return err
	}
	return c.flush()
}

// appendEncrypted seals the header and the payload's Noise blocks onto the write buffer.
func (c *Conn) appendEncrypted(h sv2.Header, payload []byte) error {
	var err error
	h.AppendTo(c.whdr[:0])
	if c.wbuf, err = c.send.seal(c.wbuf, c.whdr[:]); err != nil {
		return c.writeFailed(err)
	}
	for len(payload) > 0 {
		n := min(len(payload), MaxBlockPlaintext)
		if c.wbuf, err = c.send.seal(c.wbuf, payload[:n]); err != nil {
			return c.writeFailed(err)
		}
		payload = payload[n:]
	}
	return nil
}

func (c *Conn) flush() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	if c.cfg.WriteTimeout > 0 {
		if err := c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout)); err != nil {
			return c.writeFailed(err)
		}
	}
	_, err := c.nc.Write(c.wbuf)
	c.wbuf = c.wbuf[:0]
	if cap(c.wbuf) > keepBufferSize {
		c.wbuf = nil
	}
	if err != nil {
		return c.writeFailed(err)
	}
	return nil
}

func (c *Conn) writeFailed(err error) error {
	c.werr = fmt.Errorf("transport: write to %s: %w", c.nc.RemoteAddr(), err)
	c.Close()
	return c.werr
}
