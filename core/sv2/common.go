package sv2

// Common Protocol message types (§3.6, §8).
const (
	MsgTypeSetupConnection        uint8 = 0x00
	MsgTypeSetupConnectionSuccess uint8 = 0x01
	MsgTypeSetupConnectionError   uint8 = 0x02
	MsgTypeChannelEndpointChanged uint8 = 0x03
	MsgTypeReconnect              uint8 = 0x04
)

// SetupConnection is the client's first message on a connection: the subprotocol, the version
// range and feature flags it supports, and device information (§3.6.1).
type SetupConnection struct {
	Protocol        Protocol `sv2:"protocol"`
	MinVersion      uint16   `sv2:"min_version"`
	MaxVersion      uint16   `sv2:"max_version"`
	Flags           uint32   `sv2:"flags"`
	EndpointHost    string   `sv2:"endpoint_host"`
	EndpointPort    uint16   `sv2:"endpoint_port"`
	Vendor          string   `sv2:"vendor"`
	HardwareVersion string   `sv2:"hardware_version"`
	Firmware        string   `sv2:"firmware"`
	DeviceID        string   `sv2:"device_id"`
}

func (*SetupConnection) MsgType() uint8 { return MsgTypeSetupConnection }

func (m *SetupConnection) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "SetupConnection")
	w.U8(uint8(m.Protocol))
	w.U16(m.MinVersion)
	w.U16(m.MaxVersion)
	w.U32(m.Flags)
	w.Str0_255("endpoint_host", m.EndpointHost)
	w.U16(m.EndpointPort)
	w.Str0_255("vendor", m.Vendor)
	w.Str0_255("hardware_version", m.HardwareVersion)
	w.Str0_255("firmware", m.Firmware)
	w.Str0_255("device_id", m.DeviceID)
	return w.Finish()
}

func (m *SetupConnection) DecodePayload(p []byte) error {
	r := NewReader(p, "SetupConnection")
	v := SetupConnection{
		Protocol:        Protocol(r.U8("protocol")),
		MinVersion:      r.U16("min_version"),
		MaxVersion:      r.U16("max_version"),
		Flags:           r.U32("flags"),
		EndpointHost:    r.Str0_255("endpoint_host"),
		EndpointPort:    r.U16("endpoint_port"),
		Vendor:          r.Str0_255("vendor"),
		HardwareVersion: r.Str0_255("hardware_version"),
		Firmware:        r.Str0_255("firmware"),
		DeviceID:        r.Str0_255("device_id"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// SetupConnectionSuccess accepts a SetupConnection with the version used from now on and the
// server's feature flags (§3.6.2).
type SetupConnectionSuccess struct {
	UsedVersion uint16 `sv2:"used_version"`
	Flags       uint32 `sv2:"flags"`
}

func (*SetupConnectionSuccess) MsgType() uint8 { return MsgTypeSetupConnectionSuccess }

func (m *SetupConnectionSuccess) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "SetupConnection.Success")
	w.U16(m.UsedVersion)
	w.U32(m.Flags)
	return w.Finish()
}

func (m *SetupConnectionSuccess) DecodePayload(p []byte) error {
	r := NewReader(p, "SetupConnection.Success")
	v := SetupConnectionSuccess{
		UsedVersion: r.U16("used_version"),
		Flags:       r.U32("flags"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// SetupConnectionError refuses a SetupConnection before the server closes the connection; Flags
// lists every unsupported feature flag, or is 0 when the refusal has another cause (§3.6.3).
type SetupConnectionError struct {
	Flags     uint32 `sv2:"flags"`
	ErrorCode string `sv2:"error_code"`
}

func (*SetupConnectionError) MsgType() uint8 { return MsgTypeSetupConnectionError }

func (m *SetupConnectionError) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "SetupConnection.Error")
	w.U32(m.Flags)
	w.Str0_255("error_code", m.ErrorCode)
	return w.Finish()
}

func (m *SetupConnectionError) DecodePayload(p []byte) error {
	r := NewReader(p, "SetupConnection.Error")
	v := SetupConnectionError{
		Flags:     r.U32("flags"),
		ErrorCode: r.Str0_255("error_code"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// ChannelEndpointChanged tells the client that the far end of a channel changed, which resets the
// channel's extension state (§3.6.4).
type ChannelEndpointChanged struct {
	ChannelID uint32 `sv2:"channel_id"`
}

func (*ChannelEndpointChanged) MsgType() uint8 { return MsgTypeChannelEndpointChanged }

func (m *ChannelEndpointChanged) Channel() uint32 { return m.ChannelID }

func (m *ChannelEndpointChanged) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "ChannelEndpointChanged")
	w.U32(m.ChannelID)
	return w.Finish()
}

func (m *ChannelEndpointChanged) DecodePayload(p []byte) error {
	r := NewReader(p, "ChannelEndpointChanged")
	v := ChannelEndpointChanged{
		ChannelID: r.U32("channel_id"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// Reconnect redirects the client to another server of the same pool; an empty host or a zero port
// means the present one (§3.6.5).
type Reconnect struct {
	NewHost string `sv2:"new_host"`
	NewPort uint16 `sv2:"new_port"`
}

func (*Reconnect) MsgType() uint8 { return MsgTypeReconnect }

func (m *Reconnect) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "Reconnect")
	w.Str0_255("new_host", m.NewHost)
	w.U16(m.NewPort)
	return w.Finish()
}

func (m *Reconnect) DecodePayload(p []byte) error {
	r := NewReader(p, "Reconnect")
	v := Reconnect{
		NewHost: r.Str0_255("new_host"),
		NewPort: r.U16("new_port"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}
