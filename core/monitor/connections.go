package monitor

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/stratumgo/stratum/core/accounting"
	"github.com/stratumgo/stratum/core/service"
)

// Connection is one downstream connection in the JSON API.
type Connection struct {
	ID        service.ClientID `json:"id"`
	Remote    string           `json:"remote"`
	Protocol  string           `json:"protocol"`
	Gateway   string           `json:"gateway,omitempty"` // "sv1" for a Stratum V1 device
	Encrypted bool             `json:"encrypted"`
	Flags     uint32           `json:"flags"`
	Vendor    string           `json:"vendor,omitempty"`
	Hardware  string           `json:"hardware_version,omitempty"`
	Firmware  string           `json:"firmware,omitempty"`
	DeviceID  string           `json:"device_id,omitempty"`
}

// ServeConnections serves the connections of a server service at
// /api/v1/connections, by id, the first ?limit= (DefaultListLimit) of them.
// Call it before Run.
func (s *Server) ServeConnections(srv *service.ServerService) {
	s.Handle("connections", func(r *http.Request) (any, error) {
		limit, err := ListLimit(r)
		if err != nil {
			return nil, err
		}
		infos := srv.Clients()
		out := make([]Connection, 0, min(len(infos), limit))
		for _, c := range infos[:min(len(infos), limit)] {
			conn := Connection{ID: c.ID, Protocol: c.Setup.Protocol.String(), Gateway: c.Gateway, Encrypted: c.Handshake.Encrypted,
				Flags: c.Flags, Vendor: c.Setup.Vendor, Hardware: c.Setup.HardwareVersion, Firmware: c.Setup.Firmware, DeviceID: c.Setup.DeviceID}
			if c.Remote != nil {
				conn.Remote = c.Remote.String()
			}
			out = append(out, conn)
		}
		return out, nil
	})
}

// NewForServer is NewFor for an app that serves downstream connections:
// the monitor serves srv's connections too and, when a is not nil, the
// accounting of their work (ServeAccounts).
func NewForServer(cfg *Config, app string, log *slog.Logger, now func() time.Time, status func() Status, srv *service.ServerService, a *accounting.Accounts) (*Server, error) {
	m, err := NewFor(cfg, app, log, now, status)
	if err != nil || m == nil {
		return nil, err
	}
	m.ServeConnections(srv)
	if a != nil {
		m.ServeAccounts(a)
	}
	return m, nil
}
