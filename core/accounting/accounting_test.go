package accounting

import (
	"fmt"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/service"
)

const userIdle = time.Hour

func TestAccountsPruneIdleUsers(t *testing.T) {
	a := New(Config{})
	now := time.Unix(1_700_000_000, 0)
	a.OpenChannel(ChannelKey{1, 1}, "busy", now)
	a.OpenChannel(ChannelKey{1, 2}, "gone", now)
	a.CloseChannel(ChannelKey{1, 2})
	a.Prune(now.Add(2*time.Hour), time.Hour)
	s := a.Snapshot(now)
	if _, ok := s.Users["busy"]; !ok {
		t.Error("a user with an open channel was pruned")
	}
	if _, ok := s.Users["gone"]; ok {
		t.Error("an idle user without channels was kept")
	}
}

// Workers are bounded per user and in all: a peer inventing names cannot
// grow the accounting; the shares beyond count for the user only.
func TestWorkersBounded(t *testing.T) {
	a := New(Config{MaxWorkersPerUser: 2, MaxWorkers: 3})
	now := time.Unix(1700000000, 0)
	a.OpenChannel(ChannelKey{1, 1}, "alice", now)
	a.OpenChannel(ChannelKey{2, 1}, "bob", now)
	for _, w := range []string{"a", "b", "c", "a"} {
		a.Share(ChannelKey{1, 1}, w, now, true, 1, "", false)
	}
	for _, w := range []string{"x", "y"} {
		a.Share(ChannelKey{2, 1}, w, now, true, 1, "", false)
	}
	st := a.Snapshot(now)
	if len(st.Workers) != 3 || st.UntrackedWorkerShares != 2 {
		t.Errorf("%d workers, %d untracked; want 3 and 2 (alice's c, bob's y)", len(st.Workers), st.UntrackedWorkerShares)
	}
	if st.Users["alice"].Accepted != 4 || st.Users["bob"].Accepted != 2 {
		t.Errorf("users %+v", st.Users)
	}
	a.Prune(now.Add(2*userIdle), userIdle)
	if st := a.Snapshot(now); len(st.Workers) != 0 || len(a.perUser) != 0 {
		t.Errorf("idle workers kept: %v %v", st.Workers, a.perUser)
	}
}

// Issue 12, item 5: names a client invents while opening and closing
// channels leave nothing behind (on the old code each stayed an hour);
// a user that did work stays, and closing a connection costs as many
// steps as it had channels.
func TestChurnedUserNamesAreForgotten(t *testing.T) {
	a := New(Config{})
	now := time.Unix(1700000000, 0)
	for i := range 1000 {
		k := ChannelKey{service.ClientID(i % 10), uint32(i)}
		a.OpenChannel(k, fmt.Sprintf("user-%d", i), now)
		if i%2 == 0 {
			a.CloseChannel(k)
		}
	}
	for c := range 10 {
		a.CloseClient(service.ClientID(c))
	}
	if len(a.users) != 0 || len(a.channels) != 0 || len(a.byClient) != 0 || len(a.userOpen) != 0 {
		t.Errorf("left %d users, %d channels, %d clients, %d open counts", len(a.users), len(a.channels), len(a.byClient), len(a.userOpen))
	}
	a.OpenChannel(ChannelKey{1, 1}, "worker-bee", now)
	a.Share(ChannelKey{1, 1}, "", now, true, 1, "", false)
	a.CloseClient(1)
	if _, ok := a.Snapshot(now).Users["worker-bee"]; !ok {
		t.Error("a user with accepted work was forgotten at once")
	}
}

// Totals count every share, those of unknown channels and of users since
// pruned included, so that they only grow (they are Prometheus counters).
func TestTotalsOnlyGrow(t *testing.T) {
	a := New(Config{})
	now := time.Unix(1700000000, 0)
	a.OpenChannel(ChannelKey{1, 1}, "alice", now)
	a.Share(ChannelKey{1, 1}, "rig", now, true, 2, "", true)
	a.Share(ChannelKey{1, 1}, "", now, false, 0, "stale-share", false)
	a.Share(ChannelKey{9, 9}, "", now, false, 0, "invalid-channel-id", false)
	got := a.Totals(now)
	if got.Accepted != 1 || got.AcceptedDifficulty != 2 || got.Blocks != 1 || got.Users != 1 || got.Channels != 1 || got.Workers != 1 ||
		got.Rejected["stale-share"] != 1 || got.Rejected["invalid-channel-id"] != 1 || got.Hashrate <= 0 {
		t.Fatalf("totals %+v", got)
	}
	a.CloseClient(1)
	a.Prune(now.Add(2*userIdle), userIdle)
	later := a.Totals(now.Add(2 * userIdle))
	if later.Accepted != 1 || later.Rejected["stale-share"] != 1 || later.Users != 0 || later.Workers != 0 || later.Channels != 0 {
		t.Errorf("after pruning: %+v", later)
	}
	if later.Hashrate >= got.Hashrate {
		t.Errorf("hashrate did not decay: %g then %g", got.Hashrate, later.Hashrate)
	}
}

// A device's channel counts its shares for its worker, from its identity.
func TestWorkerChannels(t *testing.T) {
	a := New(Config{})
	now := time.Unix(1700000000, 0)
	u, w := SplitIdentity("farm.rig-7.left")
	if u != "farm" || w != "rig-7.left" {
		t.Fatalf("split %q %q", u, w)
	}
	if u, w := SplitIdentity("solo"); u != "solo" || w != "" {
		t.Fatalf("split without a dot: %q %q", u, w)
	}
	a.OpenWorkerChannel(ChannelKey{1, 1}, "farm", "rig-7", now)
	a.OpenDevice(ChannelKey{2, 1}, "farm.rig-8", now)
	a.Share(ChannelKey{1, 1}, "", now, true, 1, "", false)
	a.Share(ChannelKey{2, 1}, "", now, true, 1, "", false)
	a.Share(ChannelKey{2, 1}, "named", now, true, 1, "", false) // a share that names its worker wins
	st := a.Snapshot(now)
	if st.Users["farm"].Accepted != 3 || st.Workers[WorkerKey{"farm", "rig-7"}].Accepted != 1 ||
		st.Workers[WorkerKey{"farm", "rig-8"}].Accepted != 1 || st.Workers[WorkerKey{"farm", "named"}].Accepted != 1 {
		t.Errorf("users %+v workers %+v", st.Users, st.Workers)
	}
	if ws := a.BusiestWorkers(now, 10, "farm"); len(ws) != 3 {
		t.Errorf("busiest workers of farm: %+v", ws)
	}
}

// Share says which worker it counted a share for: none past the bounds,
// so that a ledger keeping per-worker rows is bounded as the accounting is.
func TestShareReportsTheWorkerCounted(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := New(Config{MaxWorkersPerUser: 1, MaxWorkers: 10})
	a.OpenChannel(ChannelKey{1, 1}, "alice", now)
	if u, w := a.Share(ChannelKey{1, 1}, "rig1", now, true, 1, "", false); u != "alice" || w != "rig1" {
		t.Errorf("first worker: %q %q, want alice rig1", u, w)
	}
	if u, w := a.Share(ChannelKey{1, 1}, "rig2", now, true, 1, "", false); u != "alice" || w != "" {
		t.Errorf("a worker past the bound: %q %q, want alice and none", u, w)
	}
	if u, w := a.Share(ChannelKey{1, 1}, "rig3", now, false, 0, "stale-share", false); u != "alice" || w != "" {
		t.Errorf("a refused share naming a new worker: %q %q, want alice and none", u, w)
	}
	if u, w := a.Share(ChannelKey{9, 9}, "rig1", now, true, 1, "", false); u != "" || w != "" {
		t.Errorf("an unknown channel: %q %q, want none", u, w)
	}
}
