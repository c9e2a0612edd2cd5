package proxy

import (
	"errors"
	"strings"
	"testing"

	"github.com/stratumgo/stratum/core/noise"
)

// validConfig is the smallest configuration New takes.
func validConfig() Config {
	return Config{Listen: "127.0.0.1:0", Plain: true, User: "farm", Upstreams: []Upstream{{Address: "127.0.0.1:1", Plain: true}}}
}

// Every refused configuration is an ErrConfig that says what is wrong.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no authority key", func(c *Config) { c.Plain = false }, "authority secret key is required"},
		{"no upstream", func(c *Config) { c.Upstreams = nil }, "no upstream"},
		{"an upstream without address", func(c *Config) { c.Upstreams = append(c.Upstreams, Upstream{Plain: true}) }, "upstream 2 has no address"},
		{"no user", func(c *Config) { c.User = "" }, "no user identity"},
		{"unknown mode", func(c *Config) { c.Mode = "relay" }, `mode "relay"`},
		{"too many upstream channels", func(c *Config) { c.UpstreamChannels = DefaultMaxUpstreamChannels + 1 }, "65 upstream channels, at most 64"},
		{"upstream channels in passthrough", func(c *Config) { c.Mode, c.UpstreamChannels = ModePassthrough, 2 }, "one per device channel"},
		{"negative extranonce size", func(c *Config) { c.ExtranonceSize = -1 }, "extranonce size -1"},
		{"extranonce size over 32", func(c *Config) { c.ExtranonceSize = 33 }, "extranonce size 33"},
		{"negative channel index size", func(c *Config) { c.ChannelIndexSize = -1 }, "channel index of -1 bytes"},
		{"channel index size over 3", func(c *Config) { c.ChannelIndexSize = MaxChannelIndexSize + 1 }, "channel index of 4 bytes"},
		{"extranonce size of the channel index", func(c *Config) { c.ExtranonceSize = DefaultChannelIndexSize }, "nothing to roll"},
		{"extranonce size under the channel index", func(c *Config) { c.ExtranonceSize, c.ChannelIndexSize = 2, 3 }, "nothing to roll"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			tc.mod(&cfg)
			p, err := New(cfg)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an ErrConfig with %q", err, tc.want)
			}
			if p != nil {
				t.Fatal("New returned a proxy with its error")
			}
		})
	}
}

// The zero values take the documented defaults, and New takes the result.
func TestConfigDefaults(t *testing.T) {
	cfg := Config{Plain: true, User: "farm", Upstreams: []Upstream{{Address: "127.0.0.1:1"}}}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != DefaultListen || cfg.Mode != ModeAggregate || cfg.SharesPerMinute != DefaultSharesPerMinute ||
		cfg.VardiffInterval != DefaultVardiffInterval || cfg.UpstreamChannels != DefaultUpstreamChannels ||
		cfg.UpstreamHashrate != DefaultUpstreamHashrate || cfg.ChannelIndexSize != DefaultChannelIndexSize ||
		cfg.HashrateDebounce != DefaultHashrateDebounce || cfg.Attempts != DefaultAttempts || cfg.PrimaryProbe != DefaultPrimaryProbe ||
		cfg.MaxChannelsPerConnection != DefaultMaxChannelsPerConnection || cfg.MaxChannelsPerSource != DefaultMaxChannelsPerSource ||
		cfg.ExtranonceSize != 0 || cfg.Logger == nil {
		t.Fatalf("defaults %+v", cfg)
	}
	if _, err := New(validConfig()); err != nil {
		t.Fatal(err)
	}
	// Noise for the devices needs only the authority key.
	key, _, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := validConfig()
	enc.Plain, enc.AuthorityKey = false, &key
	if _, err := New(enc); err != nil {
		t.Fatal(err)
	}
}

// ParseMode reads both modes, empty as aggregate, and refuses the rest.
func TestParseMode(t *testing.T) {
	for s, want := range map[string]Mode{"": ModeAggregate, "aggregate": ModeAggregate, "passthrough": ModePassthrough} {
		if m, err := ParseMode(s); err != nil || m != want {
			t.Errorf("ParseMode(%q) = %q, %v, want %q", s, m, err, want)
		}
	}
	if _, err := ParseMode("Aggregate"); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseMode(Aggregate): %v, want ErrConfig", err)
	}
}
