// Package monitortest reads a monitoring server as its users' tools do, for
// tests: /metrics through Prometheus' own parser, and the JSON API.
package monitortest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var client = &http.Client{Timeout: 10 * time.Second}

// Metrics are the metric families of one scrape, by name.
type Metrics map[string]*dto.MetricFamily

// Scrape gets base+"/metrics" and parses it with Prometheus' text parser.
func Scrape(t testing.TB, base string) Metrics {
	t.Helper()
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: HTTP %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape: Prometheus' parser refuses it: %v", err)
	}
	return fams
}

// Value returns the value of the series of name whose labels include
// labels (name, value pairs), and whether there is one; a histogram's value
// is its sample count.
func (m Metrics) Value(name string, labels ...string) (float64, bool) {
	f := m[name]
	if f == nil {
		return 0, false
	}
next:
	for _, s := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range s.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case s.Counter != nil:
			return s.Counter.GetValue(), true
		case s.Gauge != nil:
			return s.Gauge.GetValue(), true
		case s.Histogram != nil:
			return float64(s.Histogram.GetSampleCount()), true
		case s.Untyped != nil:
			return s.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// Must returns Value's value, failing t when there is no such series.
func (m Metrics) Must(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, ok := m.Value(name, labels...)
	if !ok {
		t.Fatalf("no series %s%v in the scrape", name, labels)
	}
	return v
}

// GetJSON gets base+path and decodes its JSON into v, failing t unless the
// answer is 200 with JSON.
func GetJSON(t testing.TB, base, path string, v any) {
	t.Helper()
	if err := getJSON(base+path, v); err != nil {
		t.Fatal(err)
	}
}

func getJSON(url string, v any) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %s: %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	return nil
}

// Want is a series a scrape must have, with its value: Labels are name,
// value pairs it must carry (others may be there too).
type Want struct {
	Name   string
	Labels []string
	Value  float64
}

// Expect fails t for each want the scrape does not have with its value.
func (m Metrics) Expect(t testing.TB, wants ...Want) {
	t.Helper()
	for _, w := range wants {
		got, ok := m.Value(w.Name, w.Labels...)
		switch {
		case !ok:
			t.Errorf("no series %s%v in the scrape", w.Name, w.Labels)
		case got != w.Value:
			t.Errorf("%s%v = %g, want %g", w.Name, w.Labels, got, w.Value)
		}
	}
}
