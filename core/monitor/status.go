package monitor

import "time"

// Status is what every app reports at once: the dashboard shows it, the
// standard metrics are made of it, and /api/v1/status serves it. An app fills
// the parts it has and leaves the others nil.
type Status struct {
	App     string    `json:"app"`     // "pool", "proxy", "jdc", "jds", "templateprovider", "cpuminer"
	State   string    `json:"state"`   // one word an operator reads: "running", "connecting", "solo"...
	Healthy bool      `json:"healthy"` // doing its job now; /api/v1/health answers 503 when false
	Started time.Time `json:"started"`
	// Hashrate is the estimated hashrate in H/s of the work the app sees
	// (accepted difficulty over time), or measured (the CPU miner).
	Hashrate    float64      `json:"hashrate_hs"`
	Connections *int         `json:"connections,omitempty"` // downstream connections now
	Channels    *int         `json:"channels,omitempty"`    // downstream channels open now
	Users       *int         `json:"users,omitempty"`       // users with work or an open channel
	Shares      *Shares      `json:"shares,omitempty"`
	Blocks      *Blocks      `json:"blocks,omitempty"`
	Template    *Template    `json:"template,omitempty"`
	Upstream    *Upstream    `json:"upstream,omitempty"`
	Node        *NodeRPC     `json:"node,omitempty"`
	Declaration *Declaration `json:"declarations,omitempty"`
	Counters    []Counter    `json:"counters,omitempty"` // the app's own, also served as metrics
	// Explorer is the URL a block hash is appended to for a link
	// (Config.Explorer); the server sets it.
	Explorer string `json:"explorer,omitempty"`
}

// Shares are shares by result.
type Shares struct {
	Accepted           uint64            `json:"accepted"`
	AcceptedDifficulty float64           `json:"accepted_difficulty"`
	Rejected           map[string]uint64 `json:"rejected"` // by error code
}

// Blocks tells what became of the blocks found, and the latest of them.
type Blocks struct {
	Found     uint64  `json:"found"`
	Pending   int     `json:"pending"`   // on their way, or taken by the node and not yet built on
	Confirmed uint64  `json:"confirmed"` // a later block built on them
	Lost      uint64  `json:"lost"`      // not on the chain: another block took their place, refused, or given up
	Recent    []Block `json:"recent"`    // newest first
}

// Block is one found block.
type Block struct {
	Height uint32    `json:"height"`
	Hash   string    `json:"hash"` // in the usual display order
	Finder string    `json:"finder,omitempty"`
	Found  time.Time `json:"found"`
	State  string    `json:"state"` // pending, accepted (by the node; no tip since), confirmed, lost
	// Outcome says what settled it: "confirmed", "node-accepted", "lost",
	// "node-refused", "gave-up", or "" while pending.
	Outcome string `json:"outcome,omitempty"`
}

// Template is the work the app builds on now.
type Template struct {
	ID       uint64    `json:"id"`
	PrevHash string    `json:"prev_hash,omitempty"`
	Height   uint32    `json:"height,omitempty"`
	Received time.Time `json:"received"`
	Age      float64   `json:"age_seconds"` // since Received, at the time of the Status
	Value    uint64    `json:"coinbase_value_sat,omitempty"`
}

// Upstream is the server the app works for now and its fallback state.
type Upstream struct {
	Address   string `json:"address"`
	Index     int    `json:"index"` // in the configured list, from 0
	Connected bool   `json:"connected"`
	// Fallback is "" on the first upstream, "fallback" on a later one, and
	// "solo" when the app mines on its own templates for want of any.
	Fallback string `json:"fallback,omitempty"`
	Switches uint64 `json:"switches"`
}

// NodeRPC is the app's traffic with its node's JSON-RPC.
type NodeRPC struct {
	Address  string  `json:"address"`
	Requests uint64  `json:"requests"`
	Errors   uint64  `json:"errors"`
	Seconds  float64 `json:"seconds"` // summed over timed requests
	// Buckets count the timed requests that took at most each bound
	// (cumulative, as Prometheus' histograms); long polls are not timed.
	Buckets []Bucket `json:"buckets,omitempty"`
	Timed   uint64   `json:"timed"`
}

// Bucket is one bound of a latency histogram.
type Bucket struct {
	Le    float64 `json:"le"` // seconds
	Count uint64  `json:"count"`
}

// Declaration counts a job declarator's declarations by result.
type Declaration struct {
	Declared uint64            `json:"declared"`
	Accepted uint64            `json:"accepted"`
	Refused  map[string]uint64 `json:"refused"` // by error code
}

// Counter is one more figure of the app's own, served in the status and as
// the metric sv2_<app>_<Name> (a counter when Total, "_total" appended; a
// gauge otherwise).
type Counter struct {
	Name  string  `json:"name"` // snake_case, in base units
	Help  string  `json:"help"`
	Value float64 `json:"value"`
	Total bool    `json:"total,omitempty"`
}
