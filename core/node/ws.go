package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/btcsuite/btcd/wire/v2"
	"github.com/btcsuite/websocket"
)

// wsHandshakeTimeout bounds connecting and upgrading when ctx has no
// earlier deadline.
const wsHandshakeTimeout = 10 * time.Second

// wsMaxMessage bounds one notification; block notifications carry a header
// and the (empty, for us) list of subscribed transactions.
const wsMaxMessage = 1 << 20

type wsMessage struct {
	ID     *uint64           `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
	Error  *rpcErrorObject   `json:"error"`
}

// dialWebsocket opens btcd's websocket endpoint (/ws) with our credentials.
func (c *Client) dialWebsocket(ctx context.Context) (*websocket.Conn, error) {
	u := *c.url
	u.Path = "/ws"
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	ctx, cancel := context.WithTimeout(ctx, wsHandshakeTimeout)
	defer cancel()

	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("%w: websocket to %s: %w", ErrConnection, u.Host, err)
	}
	// The websocket library knows no contexts: a deadline and a close on
	// cancellation bound the handshake instead.
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()

	if u.Scheme == "wss" {
		cfg := c.cfg.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("%w: websocket to %s: tls: %w", ErrConnection, u.Host, err)
		}
		nc = tc
	}

	user, pass, err := c.credentials()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("node: websocket: %w", err)
	}
	hdr := http.Header{}
	hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	conn, resp, err := websocket.NewClient(nc, &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}, hdr, 0, 0)
	if err != nil {
		nc.Close()
		switch {
		case resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
			return nil, fmt.Errorf("%w: websocket to %s: HTTP %s", ErrUnauthorized, u.Host, resp.Status)
		case resp != nil && notAWebsocketServer(resp.StatusCode):
			return nil, fmt.Errorf("%w: %s answered the upgrade with HTTP %s", ErrWebsocketUnsupported, u.Host, resp.Status)
		case resp != nil:
			// Busy (btcd's --rpcmaxwebsockets) or failing: try again later.
			return nil, fmt.Errorf("%w: websocket to %s: HTTP %s", ErrConnection, u.Host, resp.Status)
		case ctx.Err() != nil && !errors.Is(err, context.Canceled):
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return nil, fmt.Errorf("%w: websocket to %s: %w", ErrConnection, u.Host, err)
	}
	nc.SetDeadline(time.Time{})
	conn.SetReadLimit(wsMaxMessage)
	return conn, nil
}

// websocketSession subscribes to block notifications and reports tips until
// the connection fails or ctx ends.
func (w *watcher) websocketSession(ctx context.Context) error {
	conn, err := w.c.dialWebsocket(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// Closing the connection is what unblocks ReadMessage.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()

	const subscribeID = 1
	req, _ := json.Marshal(rpcRequest{JSONRPC: "1.0", ID: subscribeID, Method: "notifyblocks", Params: []any{}})
	conn.SetWriteDeadline(time.Now().Add(wsHandshakeTimeout))
	if err := conn.WriteMessage(websocket.TextMessage, req); err != nil {
		return fmt.Errorf("%w: websocket notifyblocks: %w", ErrConnection, err)
	}
	conn.SetWriteDeadline(time.Time{})

	// A peer that stops answering pings is dead even if TCP has not noticed.
	alive := func() { conn.SetReadDeadline(time.Now().Add(2 * w.cfg.PingInterval)) }
	alive()
	conn.SetPongHandler(func(string) error { alive(); return nil })
	wg.Go(func() {
		t := time.NewTicker(w.cfg.PingInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// WriteControl may run concurrently with reads.
				if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(w.cfg.PingInterval)) != nil {
					return
				}
			}
		}
	})

	subscribed := false
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: websocket read: %w", ErrConnection, err)
		}
		alive()
		var msg wsMessage
		if err := json.Unmarshal(data, &msg); err != nil {
			return fmt.Errorf("%w: websocket message: %q", ErrMalformedReply, snippet(data))
		}
		switch {
		case msg.ID != nil && *msg.ID == subscribeID && !subscribed:
			if msg.Error != nil {
				err := &RPCError{Method: "notifyblocks", Code: msg.Error.Code, Message: msg.Error.Message}
				if msg.Error.Code == CodeMethodNotFound {
					return fmt.Errorf("%w: %w", ErrWebsocketUnsupported, err)
				}
				return err
			}
			subscribed = true
			// Subscribed first, then read the tip, so no block falls between.
			if err := w.resync(ctx); err != nil {
				return err
			}
		case !subscribed:
			// Notifications before the subscription reply cannot be ours.
		default:
			if err := w.notification(ctx, msg); err != nil {
				return err
			}
		}
	}
}

// notification handles one btcd notification. A block that extends the tip
// we reported is reported straight from the notification; anything else
// (reorgs, missed blocks) makes us ask the node for its tip.
func (w *watcher) notification(ctx context.Context, msg wsMessage) error {
	switch msg.Method {
	case "blockconnected": // [hash, height, time]; sent before the filtered one
		var hash string
		var height int64
		if len(msg.Params) < 2 || json.Unmarshal(msg.Params[0], &hash) != nil || json.Unmarshal(msg.Params[1], &height) != nil {
			return fmt.Errorf("%w: blockconnected params", ErrMalformedReply)
		}
		h, err := parseHash("blockconnected", hash)
		if err != nil {
			return err
		}
		if w.haveLast && height == w.last.Height+1 {
			w.emit(Tip{Hash: h, Height: height})
			return nil
		}
		if w.haveLast && h == w.last.Hash {
			return nil
		}
		return w.resync(ctx)
	case "filteredblockconnected": // [height, header hex, txs]
		var height int64
		var hdrHex string
		if len(msg.Params) < 2 || json.Unmarshal(msg.Params[0], &height) != nil || json.Unmarshal(msg.Params[1], &hdrHex) != nil {
			return fmt.Errorf("%w: filteredblockconnected params", ErrMalformedReply)
		}
		raw, err := hex.DecodeString(hdrHex)
		if err != nil {
			return fmt.Errorf("%w: filteredblockconnected header: %w", ErrMalformedReply, err)
		}
		var hdr wire.BlockHeader
		if err := hdr.Deserialize(bytes.NewReader(raw)); err != nil {
			return fmt.Errorf("%w: filteredblockconnected header: %w", ErrMalformedReply, err)
		}
		hash := hdr.BlockHash()
		switch {
		case w.haveLast && hash == w.last.Hash:
			return nil // already reported from blockconnected
		case w.haveLast && hdr.PrevBlock == w.last.Hash:
			w.emit(Tip{Hash: hash, Height: height})
			return nil
		}
		return w.resync(ctx)
	case "blockdisconnected", "filteredblockdisconnected":
		return w.resync(ctx)
	}
	return nil
}

// notAWebsocketServer reports whether an answer to the upgrade request means
// the server has no websocket endpoint at all (Bitcoin Core answers 405),
// rather than that it could not take us now.
func notAWebsocketServer(status int) bool {
	switch status {
	case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	}
	return false
}
