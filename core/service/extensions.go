package service

import (
	"context"
	"fmt"
	"slices"

	"github.com/stratumgo/stratum/core/sv2"
)

// Protocol extensions (§3.4, extension 0x0001): a client asks for the
// extensions it wants with RequestExtensions right after SetupConnection,
// and both sides then use only those the server confirmed. The services do
// the negotiation themselves, and keep the TLV fields of negotiated
// extensions only: a TLV of any other extension is dropped before a handler
// sees the message (received) or before it is written (sent), as
// extension 0x0002 §1.3 asks. Handlers read what was negotiated with
// Negotiated.

// extensions is a negotiated set; it is small (a handful of ids).
type extensions []uint16

func (e extensions) has(id uint16) bool { return slices.Contains(e, id) }

// ExtensionsError is a negotiation that failed: a client service's server
// did not support an extension the client requires, or required one the
// client does not support.
type ExtensionsError struct {
	Protocol    sv2.Protocol
	Unsupported []uint16 // required by us, not supported by the peer
	Required    []uint16 // required by the peer, not requested by us
}

func (e *ExtensionsError) Error() string {
	return fmt.Sprintf("service: %s extensions refused: unsupported %#04x, required by the server %#04x", e.Protocol, e.Unsupported, e.Required)
}

// Negotiated reports whether extension id was negotiated with the client
// whose handler call ctx belongs to (any of that client's calls). A client
// service's handlers find what their server confirmed in
// ServerInfo.Extensions.
func Negotiated(ctx context.Context, id uint16) bool {
	c, ok := ctx.Value(clientKey{}).(*serverClient)
	return ok && c.ext.has(id)
}

// negotiate answers a client's RequestExtensions on its own goroutine: the
// requested extensions the server supports, or an error when it supports
// none of them or requires one the client did not ask for (§4 of extension
// 0x0001). A client that was refused for a required extension may ask again;
// any other message before it succeeds closes it.
func (s *ServerService) negotiate(c *serverClient, m *sv2.RequestExtensions) {
	// A peer may list up to 65535 ids: sorted and deduplicated in
	// O(n log n), and at most maxUnsupportedEcho of the unknown ones are
	// named back, so a request costs little and its answer stays small.
	requested := slices.Compact(slices.Sorted(slices.Values(m.RequestedExtensions)))
	var ok, unsupported []uint16
	for _, id := range requested {
		switch {
		case slices.Contains(s.cfg.SupportedExtensions, id):
			ok = append(ok, id)
		case len(unsupported) < maxUnsupportedEcho:
			unsupported = append(unsupported, id)
		}
	}
	var missing []uint16
	for _, id := range s.cfg.RequiredExtensions {
		if !slices.Contains(ok, id) {
			missing = append(missing, id)
		}
	}
	if len(ok) == 0 || len(missing) > 0 {
		// Nothing is negotiated now, required extensions included: until a
		// request succeeds, any other message closes the client.
		c.ext, c.extDone = nil, false
		s.send(c, &sv2.RequestExtensionsError{RequestID: m.RequestID, UnsupportedExtensions: unsupported, RequiredExtensions: missing})
		return
	}
	c.ext, c.extDone = ok, true
	s.send(c, &sv2.RequestExtensionsSuccess{RequestID: m.RequestID, SupportedExtensions: ok})
}

// maxUnsupportedEcho bounds the unsupported extensions a
// RequestExtensions.Error names.
const maxUnsupportedEcho = 64

// admitted checks a client's message against the extension rules before
// its handler sees it, and drops the TLVs of extensions not negotiated.
func (s *ServerService) admitted(c *serverClient, m sv2.Message) error {
	if len(s.cfg.RequiredExtensions) > 0 && !c.extDone {
		return fmt.Errorf("%w: %s before negotiating the required extensions %#04x", ErrProtocol, sv2.Info(m).Name, s.cfg.RequiredExtensions)
	}
	if sh, ok := m.(*sv2.SubmitSharesExtended); ok && len(sh.TLVs) > 0 {
		sh.TLVs = sv2.KeepExtensions(sh.TLVs, c.ext.has)
		if err := sv2.CheckTLVs("SubmitSharesExtended", sh.TLVs); err != nil {
			return fmt.Errorf("%w: %w", ErrProtocol, err)
		}
	}
	return nil
}

// keepNegotiated returns m without the TLVs of extensions not in ext; m
// itself is not changed (a handler may still hold it).
func keepNegotiated(m sv2.Message, ext extensions) sv2.Message {
	sh, ok := m.(*sv2.SubmitSharesExtended)
	if !ok || len(sh.TLVs) == 0 {
		return m
	}
	kept := sv2.KeepExtensions(sh.TLVs, ext.has)
	if len(kept) == len(sh.TLVs) {
		return m
	}
	cp := *sh
	cp.TLVs = kept
	return &cp
}

func validExtensions(supported, required []uint16) error {
	for _, id := range required {
		if !slices.Contains(supported, id) {
			return fmt.Errorf("%w: extension %#04x is required but not supported", ErrConfig, id)
		}
	}
	for _, id := range supported {
		if id == sv2.ExtensionNegotiation {
			return fmt.Errorf("%w: extension 0x0001 is the negotiation itself; list only the extensions it negotiates", ErrConfig)
		}
	}
	return nil
}
