package pool

import (
	"bytes"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
)

func TestParsePayout(t *testing.T) {
	net, _ := network.Params("regtest")
	addr := "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
	p, err := ParsePayout(addr+":3", net)
	if err != nil || p.Weight != 3 || len(p.Script) != 22 || p.Script[0] != txscript.OP_0 {
		t.Errorf("address with weight: %+v, %v", p, err)
	}
	if p, err := ParsePayout("51", net); err != nil || !bytes.Equal(p.Script, []byte{0x51}) || p.Weight != 1 {
		t.Errorf("hex script: %+v, %v", p, err)
	}
	for _, bad := range []string{"", "zz", addr + ":0", addr + ":x", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"} {
		if _, err := ParsePayout(bad, net); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := soloAddress(addr+".rig7", net); err != nil {
		t.Errorf("solo identity with worker: %v", err)
	}
	if _, err := soloAddress("alice.rig7", net); !errors.Is(err, ErrAddress) {
		t.Errorf("solo identity without address: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	sk, _, _ := noise.GenerateAuthorityKeyPair(nil)
	_, pk, _ := noise.GenerateAuthorityKeyPair(nil)
	net, _ := network.Params("regtest")
	payout, _ := ParsePayout("51", net)
	good := Config{Network: "regtest", AuthorityKey: &sk, TemplateProvider: TemplateProvider{Address: "127.0.0.1:1"}, Payouts: []Payout{payout}}
	if _, err := New(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"unknown network":  func(c *Config) { c.Network = "moonnet" },
		"no payout":        func(c *Config) { c.Payouts = nil },
		"solo and payouts": func(c *Config) { c.Solo = true },
		"no authority key": func(c *Config) { c.AuthorityKey = nil },
		"no TP address":    func(c *Config) { c.TemplateProvider.Address = "" },
		"server id -1":     func(c *Config) { c.ServerID = -1 },
		"server id 256":    func(c *Config) { c.ServerID = 256 },
		"job declaration with solo": func(c *Config) {
			c.Payouts, c.Solo = nil, true
			c.JobDeclaration = &JobDeclaration{AuthorityKey: &pk}
		},
		"both an in-process and a standalone JDS": func(c *Config) {
			c.JobDeclaration = &JobDeclaration{Listen: "127.0.0.1:0", AuthorityKey: &pk}
		},
		"neither": func(c *Config) { c.JobDeclaration = &JobDeclaration{} },
		"in-process JDS without a node": func(c *Config) {
			c.JobDeclaration = &JobDeclaration{Listen: "127.0.0.1:0"}
		},
		"in-process JDS without the pool's key": func(c *Config) {
			c.Plain, c.AuthorityKey = true, nil
			c.Node = &node.Config{URL: "http://127.0.0.1:1"}
			c.JobDeclaration = &JobDeclaration{Listen: "127.0.0.1:0"}
		},
	} {
		cfg := good
		mod(&cfg)
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// With job declaration the pool grants REQUIRES_WORK_SELECTION; without it
// the flag is refused.
func TestWorkSelectionFlag(t *testing.T) {
	sk, pk, _ := noise.GenerateAuthorityKeyPair(nil)
	net, _ := network.Params("regtest")
	payout, _ := ParsePayout("51", net)
	for _, jd := range []bool{false, true} {
		cfg := Config{Network: "regtest", AuthorityKey: &sk, TemplateProvider: TemplateProvider{Address: "127.0.0.1:1"}, Payouts: []Payout{payout}}
		if jd {
			cfg.JobDeclaration = &JobDeclaration{AuthorityKey: &pk}
		}
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, unsupported := p.miners.Flags(mining.FlagRequiresWorkSelection)
		if (unsupported == 0) != jd {
			t.Errorf("job declaration %v: work selection unsupported=%#x", jd, unsupported)
		}
	}
}
