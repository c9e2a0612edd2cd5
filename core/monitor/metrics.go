package monitor

import (
	"cmp"
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// maxCodes bounds the code label of the rejection metrics: codes come from
// peers, so beyond the most frequent maxCodes they are summed as "other".
const maxCodes = 32

// The standard metrics, made of a Status at each scrape.
var (
	descInfo        = prometheus.NewDesc("sv2_app_info", "The app serving these metrics (always 1).", []string{"app"}, nil)
	descHealthy     = prometheus.NewDesc("sv2_healthy", "1 when the app is doing its job, 0 otherwise.", nil, nil)
	descHashrate    = prometheus.NewDesc("sv2_hashrate_hashes_per_second", "Estimated hashrate of the work the app sees.", nil, nil)
	descConnections = prometheus.NewDesc("sv2_connections", "Downstream connections open now.", nil, nil)
	descChannels    = prometheus.NewDesc("sv2_channels", "Downstream channels open now.", nil, nil)
	descUsers       = prometheus.NewDesc("sv2_users", "Users with work or an open channel.", nil, nil)
	descAccepted    = prometheus.NewDesc("sv2_shares_accepted_total", "Shares accepted.", nil, nil)
	descDifficulty  = prometheus.NewDesc("sv2_shares_accepted_difficulty_total", "Sum of the accepted shares' difficulty.", nil, nil)
	descRejected    = prometheus.NewDesc("sv2_shares_rejected_total", "Shares rejected, by error code.", []string{"code"}, nil)
	descFound       = prometheus.NewDesc("sv2_blocks_found_total", "Blocks found.", nil, nil)
	descPending     = prometheus.NewDesc("sv2_blocks_pending", "Found blocks on their way, or taken by the node and not yet built on.", nil, nil)
	descConfirmed   = prometheus.NewDesc("sv2_blocks_confirmed_total", "Found blocks a later block built on (for the JDS and the template provider, that the node took).", nil, nil)
	descLost        = prometheus.NewDesc("sv2_blocks_lost_total", "Found blocks not on the chain: another block took their place, the node refused them, or they were given up.", nil, nil)
	descTmplAge     = prometheus.NewDesc("sv2_template_age_seconds", "Time since the current template became current.", nil, nil)
	descTmplHeight  = prometheus.NewDesc("sv2_template_height", "Height of the block the current template builds.", nil, nil)
	descUpConnected = prometheus.NewDesc("sv2_upstream_connected", "1 when connected to the upstream in use.", nil, nil)
	descUpInfo      = prometheus.NewDesc("sv2_upstream_info", "The upstream in use (always 1): its address, and fallback (none, fallback or solo).", []string{"address", "fallback"}, nil)
	descUpIndex     = prometheus.NewDesc("sv2_upstream_index", "The upstream in use, from 0 in the configured list.", nil, nil)
	descUpSwitches  = prometheus.NewDesc("sv2_upstream_switches_total", "Moves to another upstream, or between pooled and solo mining.", nil, nil)
	descNodeReqs    = prometheus.NewDesc("sv2_node_rpc_requests_total", "Calls to the node's JSON-RPC.", nil, nil)
	descNodeErrs    = prometheus.NewDesc("sv2_node_rpc_errors_total", "Calls to the node's JSON-RPC that failed.", nil, nil)
	descNodeLatency = prometheus.NewDesc("sv2_node_rpc_duration_seconds", "Latency of the node's JSON-RPC calls (long polls excluded).", nil, nil)
	descDeclared    = prometheus.NewDesc("sv2_declarations_total", "Jobs declared.", nil, nil)
	descDeclAccept  = prometheus.NewDesc("sv2_declarations_accepted_total", "Declared jobs accepted.", nil, nil)
	descDeclRefused = prometheus.NewDesc("sv2_declarations_refused_total", "Declared jobs refused, by error code.", []string{"code"}, nil)
)

// statusCollector makes the standard metrics of one Status per scrape.
type statusCollector struct {
	app    string
	status func() Status
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	// Unchecked: the app's counters are named at run time.
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		constMetric(ch, d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		constMetric(ch, d, prometheus.CounterValue, v, labels...)
	}
	gauge(descInfo, 1, st.App)
	gauge(descHealthy, boolFloat(st.Healthy))
	if st.Shares != nil || st.Hashrate != 0 { // an app that sees work
		gauge(descHashrate, st.Hashrate)
	}
	for _, g := range []struct {
		d *prometheus.Desc
		v *int
	}{{descConnections, st.Connections}, {descChannels, st.Channels}, {descUsers, st.Users}} {
		if g.v != nil {
			gauge(g.d, float64(*g.v))
		}
	}
	if s := st.Shares; s != nil {
		counter(descAccepted, float64(s.Accepted))
		counter(descDifficulty, s.AcceptedDifficulty)
		for code, n := range boundCodes(s.Rejected) {
			counter(descRejected, float64(n), code)
		}
	}
	if b := st.Blocks; b != nil {
		counter(descFound, float64(b.Found))
		gauge(descPending, float64(b.Pending))
		counter(descConfirmed, float64(b.Confirmed))
		counter(descLost, float64(b.Lost))
	}
	if t := st.Template; t != nil {
		gauge(descTmplAge, t.Age)
		if t.Height > 0 {
			gauge(descTmplHeight, float64(t.Height))
		}
	}
	if u := st.Upstream; u != nil {
		fallback := u.Fallback
		if fallback == "" {
			fallback = "none"
		}
		gauge(descUpConnected, boolFloat(u.Connected))
		gauge(descUpInfo, 1, u.Address, fallback)
		gauge(descUpIndex, float64(u.Index))
		counter(descUpSwitches, float64(u.Switches))
	}
	if n := st.Node; n != nil {
		counter(descNodeReqs, float64(n.Requests))
		counter(descNodeErrs, float64(n.Errors))
		buckets := make(map[float64]uint64, len(n.Buckets))
		for _, b := range n.Buckets {
			buckets[b.Le] = b.Count
		}
		if m, err := prometheus.NewConstHistogram(descNodeLatency, n.Timed, n.Seconds, buckets); err == nil {
			ch <- m
		}
	}
	if d := st.Declaration; d != nil {
		counter(descDeclared, float64(d.Declared))
		counter(descDeclAccept, float64(d.Accepted))
		for code, n := range boundCodes(d.Refused) {
			counter(descDeclRefused, float64(n), code)
		}
	}
	// The app's own: a name that is no metric name, or one already used,
	// is left out rather than spoiling the scrape.
	seen := map[string]bool{}
	for _, k := range st.Counters {
		name, kind := "sv2_"+st.App+"_"+k.Name, prometheus.GaugeValue
		if k.Total {
			name, kind = name+"_total", prometheus.CounterValue
		}
		if !metricName(name) || seen[name] {
			continue
		}
		seen[name] = true
		constMetric(ch, prometheus.NewDesc(name, k.Help, nil, nil), kind, k.Value)
	}
}

// constMetric sends a metric of d, its label values made UTF-8; one that
// still cannot be made is left out.
func constMetric(ch chan<- prometheus.Metric, d *prometheus.Desc, kind prometheus.ValueType, v float64, labels ...string) {
	for i, l := range labels {
		labels[i] = labelValue(l)
	}
	if m, err := prometheus.NewConstMetric(d, kind, v, labels...); err == nil {
		ch <- m
	}
}

// metricName: Prometheus' classic metric names, [a-zA-Z_:][a-zA-Z0-9_:]*.
func metricName(s string) bool {
	for i := range len(s) {
		c := s[i]
		letter := c == '_' || c == ':' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}

// boundCodes keeps the maxCodes most frequent codes and sums the rest as "other".
func boundCodes(m map[string]uint64) map[string]uint64 {
	if len(m) <= maxCodes {
		return m
	}
	codes := slices.Collect(maps.Keys(m))
	slices.SortFunc(codes, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	out := make(map[string]uint64, maxCodes+1)
	for i, code := range codes {
		if i < maxCodes {
			out[code] = m[code]
		} else {
			out["other"] += m[code]
		}
	}
	return out
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
