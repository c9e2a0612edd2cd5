package network

import (
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/v2"
)

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params *chaincfg.Params
		chains []string // Bitcoin Core's name first
	}{
		{"mainnet", &chaincfg.MainNetParams, []string{"main", "mainnet"}},
		{"testnet", &chaincfg.TestNet3Params, []string{"test", "testnet3"}},
		{"testnet4", &chaincfg.TestNet4Params, []string{"testnet4"}},
		{"signet", &chaincfg.SigNetParams, []string{"signet"}},
		{"regtest", &chaincfg.RegressionNetParams, []string{"regtest"}},
	} {
		n, err := Lookup(tc.name)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", tc.name, err)
		}
		if n.Name != tc.name || n.Params != tc.params || !slices.Equal(n.Chains, tc.chains) {
			t.Errorf("Lookup(%q) = %s %s %q, want %s %q", tc.name, n.Name, n.Params.Name, n.Chains, tc.params.Name, tc.chains)
		}
		// btcd reports its parameters' name.
		if !n.HasChain(n.Params.Name) {
			t.Errorf("%s: btcd's chain name %q is not among %q", tc.name, n.Params.Name, n.Chains)
		}
		if p, err := Params(tc.name); p != tc.params || err != nil {
			t.Errorf("Params(%q) = %v, %v", tc.name, p.Name, err)
		}
		for _, chain := range tc.chains {
			if got, ok := ForChain(chain); !ok || got.Name != tc.name {
				t.Errorf("ForChain(%q) = %q, %v; want %q", chain, got.Name, ok, tc.name)
			}
		}
	}
}

func TestUnknown(t *testing.T) {
	for _, name := range []string{"moonnet", "", "Mainnet", "main", "testnet3", "simnet"} {
		_, err := Lookup(name)
		if !errors.Is(err, ErrUnknown) {
			t.Fatalf("Lookup(%q) = %v, want ErrUnknown", name, err)
		}
		if p, err := Params(name); p != nil || !errors.Is(err, ErrUnknown) {
			t.Fatalf("Params(%q) = %v, %v; want nil, ErrUnknown", name, p, err)
		}
	}
	_, err := Lookup("moonnet")
	want := `network: unknown network "moonnet" (want mainnet, testnet, testnet4, signet or regtest)`
	if err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
	if n, ok := ForChain("moon"); ok {
		t.Fatalf("ForChain(moon) = %v", n)
	}
}

func TestNetworksAreDistinct(t *testing.T) {
	names, chains, params := map[string]bool{}, map[string]bool{}, map[*chaincfg.Params]bool{}
	for _, n := range All() {
		if names[n.Name] || params[n.Params] {
			t.Errorf("%s appears twice", n.Name)
		}
		names[n.Name], params[n.Params] = true, true
		for _, c := range n.Chains {
			if chains[c] {
				t.Errorf("chain name %q belongs to two networks", c)
			}
			chains[c] = true
		}
	}
	if !slices.Equal(Names(), []string{"mainnet", "testnet", "testnet4", "signet", "regtest"}) {
		t.Fatalf("Names() = %q", Names())
	}
}

func TestCopiesDoNotLeak(t *testing.T) {
	n, _ := Lookup("mainnet")
	n.Chains[0] = "changed"
	All()[0].Chains[0] = "changed"
	if again, _ := Lookup("mainnet"); again.Chains[0] != "main" {
		t.Fatalf("changing a returned Network changed the table: %q", again.Chains)
	}
}

func TestSubsidy(t *testing.T) {
	for _, tc := range []struct {
		p      *chaincfg.Params
		height int64
		want   int64
	}{
		{&chaincfg.MainNetParams, 0, 5_000_000_000},
		{&chaincfg.MainNetParams, 209_999, 5_000_000_000},
		{&chaincfg.MainNetParams, 210_000, 2_500_000_000},
		{&chaincfg.MainNetParams, 840_000, 312_500_000},
		{&chaincfg.MainNetParams, 64 * 210_000, 0},
		{&chaincfg.MainNetParams, -1, 0},
		{&chaincfg.RegressionNetParams, 149, 5_000_000_000},
		{&chaincfg.RegressionNetParams, 150, 2_500_000_000},
	} {
		if got := Subsidy(tc.p, tc.height); got != tc.want {
			t.Errorf("%s at %d: %d, want %d", tc.p.Name, tc.height, got, tc.want)
		}
	}
}

// OutputScript takes an address of the network or a hex script.
func TestOutputScript(t *testing.T) {
	regtest, mainnet := &chaincfg.RegressionNetParams, &chaincfg.MainNetParams
	for _, tc := range []struct {
		in   string
		want string // hex; empty for an error
		net  string
	}{
		{"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "0014751e76e8199196d454941c45d1b3a323f1433bd6", "regtest"},
		{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "0014751e76e8199196d454941c45d1b3a323f1433bd6", "mainnet"},
		{"6a0474657374", "6a0474657374", "regtest"},
		{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "", "regtest"},
		{"6a047", "", "regtest"},
		{"", "", "mainnet"},
	} {
		net := regtest
		if tc.net == "mainnet" {
			net = mainnet
		}
		got, err := OutputScript(tc.in, net)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q on %s: %x, want an error", tc.in, tc.net, got)
		case tc.want != "" && (err != nil || hex.EncodeToString(got) != tc.want):
			t.Errorf("%q on %s: %x, %v; want %s", tc.in, tc.net, got, err, tc.want)
		}
	}
}
