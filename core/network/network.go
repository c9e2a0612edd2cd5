// Package network is the one table of the Bitcoin networks the apps run on:
// the name a configuration gives (--network), btcd's chain parameters for
// addresses and consensus rules, and the chain names nodes report in
// getblockchaininfo, so that an app can check it talks to a node on the
// right chain.
//
//	params, err := network.Params(cfg.Network) // for addresses
//	n, err := network.Lookup(cfg.Network)
//	if !n.HasChain(info.Chain) { ... }         // info from getblockchaininfo
package network

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"
)

// Network is one Bitcoin network.
type Network struct {
	// Name is what configurations call it: mainnet, testnet, testnet4,
	// signet or regtest.
	Name string
	// Params are btcd's chain parameters (shared with btcd: read them, never
	// change them).
	Params *chaincfg.Params
	// Chains are the names getblockchaininfo's "chain" field gives on this
	// network: Bitcoin Core's first, then btcd's when it differs.
	Chains []string
}

// HasChain reports whether chain, as a node's getblockchaininfo reports it,
// is this network.
func (n Network) HasChain(chain string) bool { return slices.Contains(n.Chains, chain) }

// ErrUnknown is wrapped by the error for a name that is no network of the
// table.
var ErrUnknown = errors.New("network: unknown network")

// table is every network, in the order Names lists them. It is never
// modified; Lookup and All hand out copies of its slices.
var table = []Network{
	{Name: "mainnet", Params: &chaincfg.MainNetParams, Chains: []string{"main", "mainnet"}},
	{Name: "testnet", Params: &chaincfg.TestNet3Params, Chains: []string{"test", "testnet3"}},
	{Name: "testnet4", Params: &chaincfg.TestNet4Params, Chains: []string{"testnet4"}},
	{Name: "signet", Params: &chaincfg.SigNetParams, Chains: []string{"signet"}},
	{Name: "regtest", Params: &chaincfg.RegressionNetParams, Chains: []string{"regtest"}},
}

func (n Network) clone() Network {
	n.Chains = slices.Clone(n.Chains)
	return n
}

// Lookup returns the network a configuration names. An unknown name is an
// error wrapping ErrUnknown that lists the valid names.
func Lookup(name string) (Network, error) {
	for _, n := range table {
		if n.Name == name {
			return n.clone(), nil
		}
	}
	return Network{}, fmt.Errorf("%w %q (want %s)", ErrUnknown, name, list())
}

// Params returns the chain parameters of the network a configuration names;
// errors as Lookup.
func Params(name string) (*chaincfg.Params, error) {
	n, err := Lookup(name)
	return n.Params, err
}

// ForChain returns the network whose node reports chain in
// getblockchaininfo, and whether there is one.
func ForChain(chain string) (Network, bool) {
	for _, n := range table {
		if n.HasChain(chain) {
			return n.clone(), true
		}
	}
	return Network{}, false
}

// Names returns the valid names, in the table's order.
func Names() []string {
	names := make([]string, len(table))
	for i, n := range table {
		names[i] = n.Name
	}
	return names
}

// All returns every network, in the table's order.
func All() []Network {
	all := make([]Network, len(table))
	for i, n := range table {
		all[i] = n.clone()
	}
	return all
}

// list is the valid names for a message: "a, b or c".
func list() string {
	names := Names()
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Subsidy is the block subsidy at height on the chain of p, in satoshis:
// 50 bitcoin halved every p.SubsidyReductionInterval blocks (150 on
// regtest, 210,000 elsewhere), and nothing after 64 halvings.
func Subsidy(p *chaincfg.Params, height int64) int64 {
	interval := int64(p.SubsidyReductionInterval)
	if height < 0 || interval <= 0 {
		return 0
	}
	halvings := height / interval
	if halvings >= 64 {
		return 0
	}
	return 50 * 100_000_000 >> uint(halvings)
}

// ErrAddress means a string is not an address of the network given.
var ErrAddress = errors.New("not an address of this network")

// AddressScript returns the output script paying a (segwit, taproot or
// legacy) address of p.
func AddressScript(addr string, p *chaincfg.Params) ([]byte, error) {
	if p == nil {
		return nil, fmt.Errorf("%q: %w (no network given)", addr, ErrAddress)
	}
	a, err := address.DecodeAddress(addr, p)
	if err != nil || !a.IsForNet(p) {
		return nil, fmt.Errorf("%q: %w (%s)", addr, ErrAddress, p.Name)
	}
	return txscript.PayToAddrScript(a)
}

// OutputScript reads where an operator says to pay: an address of p, or an
// output script in hex.
func OutputScript(s string, p *chaincfg.Params) ([]byte, error) {
	if script, err := AddressScript(s, p); err == nil {
		return script, nil
	}
	script, err := hex.DecodeString(s)
	if err != nil || len(script) == 0 {
		name := "no network's"
		if p != nil {
			name = "a " + p.Name
		}
		return nil, fmt.Errorf("%q: neither %s address nor a hex script", s, name)
	}
	return script, nil
}
