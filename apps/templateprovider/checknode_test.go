package templateprovider

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/node"
)

// chainNode answers getblockchaininfo with chain, as a node on it would.
func chainNode(t *testing.T, chain string) *node.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Method string `json:"method"`
			ID     any    `json:"id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Method != "getblockchaininfo" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"result": map[string]any{"chain": chain, "blocks": 7}, "error": nil, "id": req.ID})
	}))
	t.Cleanup(srv.Close)
	c, err := node.New(node.Config{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckNode(t *testing.T) {
	for _, tc := range []struct {
		network, chain string
		ok             bool
	}{
		{"mainnet", "main", true}, // Bitcoin Core
		{"mainnet", "mainnet", true},
		{"testnet", "test", true},
		{"testnet", "testnet3", true}, // btcd
		{"testnet4", "testnet4", true},
		{"signet", "signet", true},
		{"regtest", "regtest", true},
		{"", "main", true}, // no check
		{"regtest", "main", false},
		{"testnet", "testnet4", false},
		{"mainnet", "test", false},
	} {
		chain, err := checkNode(t.Context(), chainNode(t, tc.chain), tc.network)
		if (err == nil) != tc.ok {
			t.Errorf("checkNode(%q) against a node on %q = %v, want ok %v", tc.network, tc.chain, err, tc.ok)
		}
		if err == nil && chain != tc.chain {
			t.Errorf("checkNode(%q) against a node on %q returned chain %q", tc.network, tc.chain, chain)
		}
		if err != nil && !strings.Contains(err.Error(), `is on "`+tc.chain+`", not `+tc.network) {
			t.Errorf("checkNode(%q) against %q: error %q does not name both chains", tc.network, tc.chain, err)
		}
	}
}

func TestCheckNodeUnknownNetwork(t *testing.T) {
	_, err := checkNode(t.Context(), chainNode(t, "regtest"), "moonnet")
	if !errors.Is(err, network.ErrUnknown) || !strings.Contains(err.Error(), "mainnet, testnet, testnet4, signet or regtest") {
		t.Fatalf("checkNode(moonnet) = %v, want ErrUnknown listing the valid names", err)
	}
}
