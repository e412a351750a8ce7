package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

// TestSentinelFailoverKeepsAcknowledgedWrites: in sentinel mode every
// write step waits for a replica (WAIT 1), so after SENTINEL FAILOVER the
// promoted replica holds every batch the store acknowledged; the store then
// writes to the new master by itself (once it has a replica again), and
// the state ends equal to one clean pass. The deploy/local scripts cope
// with the swapped roles: sentinel-up.sh finds the setup healthy as it
// is, and after sentinel-down.sh the next sentinel-up.sh keeps the
// sentinel's master and the data. On a Redis with Sentinel of the test's
// own, so that no other test meets the failover.
func TestSentinelFailoverKeepsAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	sentinel := testenv.PrivateSentinel(t)
	env := testenv.NewSentinelOn(t, nil, sentinel.Addr, testenv.PrivateSentinelMaster, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pairs := [][2]string{{"c1", "milk"}, {"c1", "bread"}, {"c2", "milk"}, {"c2", "eggs"}, {"c1", "eggs"}, {"c3", "bread"},
		{"c3", "milk"}, {"c4", "eggs"}, {"c4", "bread"}, {"c2", "butter"}}
	half := len(pairs) / 2

	off := int64(0)
	for _, p := range pairs[:half] {
		off = purchases(t, env.Store, off, p)
	}
	acknowledged, err := env.Store.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	from, to := testenv.SentinelFailover(ctx, t, sentinel.Addr, testenv.PrivateSentinelMaster)
	t.Logf("failed over from %s to %s", from, to)

	// The new master itself, not through the sentinel: it holds what was
	// acknowledged.
	direct, err := store.New(store.Config{Addrs: []string{to}, Prefix: env.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	promoted, err := direct.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, promoted, acknowledged) {
		t.Fatalf("the promoted replica lost acknowledged writes:\nacknowledged %+v\npromoted     %+v", acknowledged, promoted)
	}

	// The rest, through the sentinel: each batch is retried until the new
	// master takes it with a replica's acknowledgement (the old master
	// becomes its replica once the sentinel reconfigures it). A refusal
	// for lost writes would mean an acknowledged batch is gone.
	retries := 0
	for _, p := range pairs[half:] {
		for {
			next, err := tryPurchases(env.Store, off, p)
			if err == nil {
				off = next
				break
			}
			if errors.Is(err, store.ErrProgressLost) || errors.Is(err, store.ErrBatchLost) {
				t.Fatalf("after the failover: %v", err)
			}
			retries++
			select {
			case <-ctx.Done():
				t.Fatalf("the store never wrote to the new master %s: %v", to, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	t.Logf("%d batches retried after the failover", retries)

	clean := openStore(t, env, env.Prefix+".clean", nil)
	off = 0
	for _, p := range pairs {
		off = purchases(t, clean, off, p)
	}
	want, err := clean.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.Store.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, got.Bought, want.Bought) || !equalJSON(t, got.Histories, want.Histories) || !equalJSON(t, got.Progress, want.Progress) {
		t.Fatalf("after the failover:\ngot  %+v\none clean pass %+v", got, want)
	}

	// Nothing restored by hand: the scripts take the roles as they are.
	sentinel.Start()
	sentinel.Stop()
	sentinel.Start()
	if m := testenv.SentinelMaster(ctx, t, sentinel.Addr, testenv.PrivateSentinelMaster); m != to {
		t.Fatalf("after sentinel-down.sh and sentinel-up.sh the master is %s, want %s (the sentinel's choice)", m, to)
	}
	again, err := env.Store.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, again.Bought, got.Bought) || !equalJSON(t, again.Histories, got.Histories) {
		t.Fatalf("the state changed across sentinel-down.sh and sentinel-up.sh:\nbefore %+v\nafter  %+v", got, again)
	}
}

// tryPurchases is purchases that returns the error of the read or of the
// write instead of failing the test.
func tryPurchases(st *store.Store, from int64, pairs ...[2]string) (int64, error) {
	ctx := context.Background()
	ids := make([]string, 0, len(pairs))
	for _, p := range pairs {
		ids = append(ids, p[0])
	}
	customers, err := st.Customers.Load(ctx, ids)
	if err != nil {
		return 0, err
	}
	b, updates, last := batchOf(customers, from, pairs...)
	if err := st.Batches.Apply(ctx, b, updates, last, from-1); err != nil {
		return 0, err
	}
	return last + 1, nil
}

// TestSentinelRefusalsAreNamed: a master name the sentinels do not know,
// and sentinels that refuse the credentials, each give an error that says
// so (the latter marked ErrAuthentication), not "unreachable"; with the
// sentinels' password, from a file, the store works. On a Redis with
// Sentinel of the test's own, whose sentinel then requires a password.
func TestSentinelRefusalsAreNamed(t *testing.T) {
	t.Parallel()
	sentinel := testenv.PrivateSentinel(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open := func(master string, creds store.SentinelConfig) error {
		creds.Master = master
		st, err := store.New(store.Config{Mode: store.Sentinel, Addrs: []string{sentinel.Addr}, Sentinel: creds,
			Prefix: "sentinelrefusals"})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		return st.Ping(ctx)
	}
	if err := open("nosuchmaster", store.SentinelConfig{}); err == nil || !strings.Contains(err.Error(), `know no master named "nosuchmaster"`) {
		t.Errorf("unknown master name: want an error naming it, got %v", err)
	}

	// The sentinel's only user is now alsobought, with the documented
	// least-privilege rules.
	const user, password = "alsobought", "sentinel-secret"
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel.Addr})
	defer sc.Close()
	for _, args := range [][]any{
		append([]any{"ACL", "SETUSER", user, "on", ">" + password}, rulesArgs(store.SentinelACLRules())...),
		{"ACL", "SETUSER", "default", "off"},
	} {
		if err := sc.Process(ctx, redis.NewStatusCmd(ctx, args...)); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	err := open(testenv.PrivateSentinelMaster, store.SentinelConfig{})
	if !errors.Is(err, store.ErrAuthentication) || !strings.Contains(err.Error(), "sentinel") {
		t.Errorf("sentinel password missing: want ErrAuthentication naming the sentinels, got %v", err)
	}
	err = open(testenv.PrivateSentinelMaster, store.SentinelConfig{Username: user, Password: "wrong"})
	if !errors.Is(err, store.ErrAuthentication) || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong sentinel password: want ErrAuthentication without the password, got %v", err)
	}

	file := filepath.Join(t.TempDir(), "sentinel.password")
	if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(store.Config{Mode: store.Sentinel, Addrs: []string{sentinel.Addr}, Prefix: "sentinelrefusals",
		Sentinel: store.SentinelConfig{Master: testenv.PrivateSentinelMaster, Username: user, PasswordFile: file}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("the sentinels' user and password from a file: %v", err)
	}
	purchases(t, st, 0, [2]string{"c1", "milk"})
	// The rules let the client follow failovers: it subscribed to both
	// channels the sentinels announce them on.
	for {
		cmd := redis.NewStringCmd(ctx, "CLIENT", "LIST")
		err := sc.Process(ctx, cmd)
		clients := cmd.Val()
		if slices.ContainsFunc(strings.Split(clients, "\n"), func(c string) bool {
			return strings.Contains(c, " sub=2 ") && strings.Contains(c, " user="+user+" ")
		}) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the client never subscribed to the sentinel's announcements as %s: %v\n%s", user, err, clients)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// rulesArgs splits ACL rules into the arguments of ACL SETUSER.
func rulesArgs(rules string) []any {
	var out []any
	for _, r := range strings.Fields(rules) {
		out = append(out, r)
	}
	return out
}
