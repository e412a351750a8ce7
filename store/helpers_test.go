package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return string(ja) == string(jb)
}

// openStore opens another store on env's Redis, in env's mode, under
// prefix, with hook (unless nil) on every connection it makes: in a
// cluster on each node's client, where the store's write pipelines run. A
// prefix other than env's is deleted at cleanup.
func openStore(t *testing.T, env *testenv.Env, prefix string, hook redis.Hook) *store.Store {
	t.Helper()
	cfg := env.StoreConfig()
	cfg.Prefix = prefix
	st, err := store.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		// Before the first command: no connection exists without the hook.
		if cc, ok := st.Client().(*redis.ClusterClient); ok {
			cc.OnNewNode(func(node *redis.Client) { node.AddHook(hook) })
		} else {
			st.Client().AddHook(hook)
		}
	}
	t.Cleanup(func() {
		if prefix != env.Prefix {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = st.State.Delete(ctx)
		}
		st.Close()
	})
	if err := st.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// pipelinesOnly is the part of a redis.Hook that lets dials and single
// commands through: embedded by the hooks that watch pipelines only.
type pipelinesOnly struct{}

func (pipelinesOnly) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (pipelinesOnly) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
