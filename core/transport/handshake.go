package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/stratumgo/stratum/core/noise"
)

// Handshake describes how a connection was secured.
type Handshake struct {
	// Encrypted is false for a plain connection (NewPlain).
	Encrypted bool
	// Authenticated is true on a client that verified the server's certificate
	// against its configured authority key. An encrypted connection without it
	// may be talking to anyone.
	Authenticated bool
	// Certificate is the certificate the server presented (zero when plain).
	Certificate noise.Certificate
	// ServerStaticKey is the server's static key as x-only public key; nil on the server side.
	ServerStaticKey *noise.PublicKey
	// Hash is the Noise handshake hash, equal on both sides and unique to the session.
	Hash [32]byte
}

// ClientConfig configures the initiator side of an encrypted connection.
type ClientConfig struct {
	Config
	// Noise holds the authority key to verify (if any), the clock skew tolerance and randomness.
	Noise noise.InitiatorConfig
	// Logger receives a warning when the server cannot be authenticated
	// because no authority key is configured; nil discards it.
	Logger *slog.Logger
}

// ServerConfig configures the responder side of an encrypted connection.
type ServerConfig struct {
	Config
	// Noise holds the static key and what certifies it. A server should set
	// Noise.Issuer (or StaticKey with Certificate) once at start: left empty,
	// each handshake would make a new static key.
	Noise noise.ResponderConfig
}

// Client runs the Noise handshake as initiator on nc and returns the encrypted
// connection. The handshake is bounded by cfg.HandshakeTimeout and by ctx; on
// any failure nc is closed.
func Client(ctx context.Context, nc net.Conn, cfg ClientConfig) (*Conn, error) {
	init, err := noise.NewInitiator(cfg.Noise)
	if err != nil {
		nc.Close()
		return nil, err
	}
	var res *noise.Result
	err = withDeadline(ctx, nc, cfg.handshakeTimeout(), func() error {
		msg1, err := init.Start()
		if err != nil {
			return err
		}
		if _, err := nc.Write(msg1); err != nil {
			return fmt.Errorf("sending handshake message 1: %w", err)
		}
		msg2 := make([]byte, noise.Message2Size)
		if _, err := io.ReadFull(nc, msg2); err != nil {
			return fmt.Errorf("reading handshake message 2: %w", noEOF(err))
		}
		res, err = init.Finish(msg2)
		return err
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("transport: handshake with %s: %w", nc.RemoteAddr(), err)
	}
	if !res.Authenticated && cfg.Logger != nil {
		cfg.Logger.Warn("sv2 connection is encrypted but the server is not authenticated: no authority public key configured",
			"remote", nc.RemoteAddr().String())
	}
	return established(nc, cfg.Config, res)
}

// Server runs the Noise handshake as responder on nc and returns the
// encrypted connection, bounded and cleaned up as Client is.
func Server(ctx context.Context, nc net.Conn, cfg ServerConfig) (*Conn, error) {
	resp, err := noise.NewResponder(cfg.Noise)
	if err != nil {
		nc.Close()
		return nil, err
	}
	var res *noise.Result
	err = withDeadline(ctx, nc, cfg.handshakeTimeout(), func() error {
		msg1 := make([]byte, noise.Message1Size)
		if _, err := io.ReadFull(nc, msg1); err != nil {
			return fmt.Errorf("reading handshake message 1: %w", noEOF(err))
		}
		msg2, r, err := resp.Respond(msg1)
		if err != nil {
			return err
		}
		if _, err := nc.Write(msg2); err != nil {
			return fmt.Errorf("sending handshake message 2: %w", err)
		}
		res = r
		return nil
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("transport: handshake with %s: %w", nc.RemoteAddr(), err)
	}
	return established(nc, cfg.Config, res)
}

// withDeadline runs f with nc's deadline set to the earlier of now+timeout and
// ctx's deadline, and cut short if ctx is cancelled. Timeouts come back as
// ErrHandshakeTimeout, cancellation as ctx.Err().
func withDeadline(ctx context.Context, nc net.Conn, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := nc.SetDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	err := f()
	if !stop() {
		// ctx ended while f ran; its deadline may have cut f short.
		return ctx.Err()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w after %v: %w", ErrHandshakeTimeout, timeout, err)
	}
	if err != nil {
		return err
	}
	return nc.SetDeadline(time.Time{})
}

func established(nc net.Conn, cfg Config, res *noise.Result) (*Conn, error) {
	send, err := newCipherState(res.Send.UnsafeKey(), res.Send.Nonce())
	if err != nil {
		nc.Close()
		return nil, err
	}
	recv, err := newCipherState(res.Receive.UnsafeKey(), res.Receive.Nonce())
	if err != nil {
		nc.Close()
		return nil, err
	}
	hs := Handshake{
		Encrypted:       true,
		Authenticated:   res.Authenticated,
		Certificate:     res.Certificate,
		ServerStaticKey: res.RemoteStatic,
		Hash:            res.HandshakeHash,
	}
	return newConn(nc, cfg, hs, send, recv), nil
}
