package lifecycle

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// journal records the parts that started and stopped, in order.
type journal struct {
	mu      sync.Mutex
	entries []string
	started sync.WaitGroup
}

func (j *journal) add(e string) {
	j.mu.Lock()
	j.entries = append(j.entries, e)
	j.mu.Unlock()
}

func (j *journal) stops() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []string
	for _, e := range j.entries {
		if len(e) > 5 && e[:5] == "stop " {
			out = append(out, e[5:])
		}
	}
	return out
}

// worker runs until its context ends, then records its stop; fail, when
// set, is returned at once instead.
type worker struct {
	name string
	j    *journal
	fail error
}

func (w worker) Run(ctx context.Context) error {
	w.j.started.Done()
	if w.fail != nil {
		return w.fail
	}
	<-ctx.Done()
	w.j.add("stop " + w.name)
	return nil
}

func parts(j *journal, names ...string) []Part {
	out := make([]Part, len(names))
	for i, n := range names {
		j.started.Add(1)
		out[i] = Part{Name: n, Component: worker{name: n, j: j}}
	}
	return out
}

// TestStopsTheStagesInReverseOrder: when ctx ends, the last stage stops
// first, and each stage stops only after the later ones returned.
func TestStopsTheStagesInReverseOrder(t *testing.T) {
	j := &journal{}
	ctx, cancel := context.WithCancel(context.Background())
	stages := [][]Part{parts(j, "http"), parts(j, "feed"), parts(j, "rescorer"), parts(j, "consumer")}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, time.Minute, stages...) }()
	j.started.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("a stop asked for by ctx returned %v, want nil", err)
	}
	if got, want := j.stops(), []string{"consumer", "rescorer", "feed", "http"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("stopped in order %v, want %v", got, want)
	}
}

// TestAFailureStopsEveryPart: a part that fails stops the others, in
// order, and its error, named after it, is Run's; Stopping says so
// before the first part is stopped.
func TestAFailureStopsEveryPart(t *testing.T) {
	j := &journal{}
	boom := errors.New("join group: broker said no")
	j.started.Add(1)
	failing := Part{Name: "consumer", Component: worker{name: "consumer", j: j, fail: boom}}
	var stopping atomic.Int32
	r := Runner{StopTimeout: time.Minute, Stopping: func() {
		if len(j.stops()) == 0 { // before any part was stopped
			stopping.Add(1)
		}
	}}
	err := r.Run(context.Background(), parts(j, "http"), parts(j, "rescorer"), []Part{failing})
	if !errors.Is(err, boom) || err.Error() != "consumer: join group: broker said no" {
		t.Fatalf("Run returned %v, want the consumer's failure named after it", err)
	}
	if n := stopping.Load(); n != 1 {
		t.Fatalf("Stopping called %d times before the first stop, want once", n)
	}
	if got, want := j.stops(), []string{"rescorer", "http"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("stopped %v, want %v", got, want)
	}
}

// returnsAtOnce returns nil without being asked to stop.
type returnsAtOnce struct{}

func (returnsAtOnce) Run(context.Context) error { return nil }

// TestAPartThatReturnsOnItsOwnIsAFailure: a component that stops without
// being asked would leave the process half working.
func TestAPartThatReturnsOnItsOwnIsAFailure(t *testing.T) {
	j := &journal{}
	err := Run(context.Background(), time.Minute, parts(j, "http"), []Part{{Name: "monitor", Component: returnsAtOnce{}}})
	if err == nil || err.Error() != "monitor stopped on its own" {
		t.Fatalf("Run returned %v, want the monitor's early return as a failure", err)
	}
	if got := j.stops(); !reflect.DeepEqual(got, []string{"http"}) {
		t.Fatalf("stopped %v, want the http part stopped too", got)
	}
}

// stuck ignores its context until released.
type stuck struct{ release chan struct{} }

func (s stuck) Run(context.Context) error { <-s.release; return nil }

// TestAStopThatTakesTooLong: Run gives up waiting after the stop timeout.
func TestAStopThatTakesTooLong(t *testing.T) {
	s := stuck{release: make(chan struct{})}
	defer close(s.release)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, time.Millisecond, []Part{{Name: "stuck", Component: s}}); !errors.Is(err, ErrStopTimeout) {
		t.Fatalf("Run returned %v, want ErrStopTimeout", err)
	}
}
