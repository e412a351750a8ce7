// Package lag answers the on-call questions "are we keeping up, and if
// not, where": per-partition lag in messages and in seconds from the
// broker's end offsets and the consumer group's committed offsets (so it is
// right even while no consumer is alive), the lag of the state in Redis,
// and a Burrow-style status per partition and for the group, evaluated over
// a window of samples.
package lag

import (
	"fmt"
	"sort"
	"time"
)

// Status of a partition or of the group. The values are the exit codes of
// `alsobought lag` and the values of the status gauges.
type Status int

// Statuses.
const (
	OK      Status = 0 // caught up, or moving and not falling behind
	Warn    Status = 1 // lag grew in every step of the window while the group moved
	Err     Status = 2 // lag and no progress over the window, or no member while lag exists
	Unknown Status = 3 // not enough samples to evaluate
)

func (s Status) String() string {
	switch s {
	case OK:
		return "OK"
	case Warn:
		return "WARN"
	case Err:
		return "ERR"
	}
	return "UNKNOWN"
}

// MarshalText lets the status appear by name in JSON.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Sample is one look at the topic, the group and the state.
type Sample struct {
	At         time.Time
	Members    int // live members of the consumer group
	Partitions map[int]PartitionSample
	// Group is the live members with the partitions of the topic each
	// owns, by member id.
	Group []Member
	// CatalogueLag is the catalogue records not applied yet, by partition
	// of the catalogue topic; nil without a catalogue.
	CatalogueLag map[int]int64
}

// Member is a live member of the consumer group and the partitions of the
// events topic it owns.
type Member struct {
	ID         string `json:"member_id"`
	ClientID   string `json:"client_id"`
	Host       string `json:"client_host"`
	Partitions []int  `json:"partitions"`
}

// PartitionSample is one partition's offsets at a sample.
type PartitionSample struct {
	End       int64 // the broker's next offset (high watermark)
	Committed int64 // the group's committed offset (next to consume); -1 none
	Applied   int64 // the progress stored in Redis (last applied offset); -1 none
	Start     int64 // the first offset the broker still holds
	// OldestUnconsumed is the timestamp of the record at the committed
	// offset, zero when there is no lag.
	OldestUnconsumed time.Time
}

// Lag is the messages not yet committed by the group.
func (p PartitionSample) Lag() int64 {
	next := p.Committed
	if next < 0 {
		next = p.Start
	}
	return max(0, p.End-next)
}

// AppliedLag is the messages not yet applied to Redis (see AppliedLag).
func (p PartitionSample) AppliedLag() int64 { return AppliedLag(p.End, p.Start, p.Applied) }

// PartitionReport is a partition's evaluation.
type PartitionReport struct {
	Partition  int     `json:"partition"`
	Status     Status  `json:"status"`
	Reason     string  `json:"reason"`
	Lag        int64   `json:"lag"`         // messages, group's committed offset
	LagSeconds float64 `json:"lag_seconds"` // age of the oldest unconsumed record
	AppliedLag int64   `json:"applied_lag"` // messages, progress in Redis
	End        int64   `json:"end_offset"`
	Committed  int64   `json:"committed_offset"`
	Applied    int64   `json:"applied_offset"`
}

// Report is the evaluation of a window of samples.
type Report struct {
	Status      Status            `json:"status"`
	Reason      string            `json:"reason"`
	Members     int               `json:"members"`
	Group       []Member          `json:"group_members,omitempty"` // at the last sample, by member id
	Lag         int64             `json:"lag"`
	AppliedLag  int64             `json:"applied_lag"`
	Samples     int               `json:"samples"`
	Window      string            `json:"window"`
	EvaluatedAt time.Time         `json:"evaluated_at"`
	Partitions  []PartitionReport `json:"partitions"`
}

// Evaluate applies the status rules to a window of samples, oldest first
// (docs/operations.md, "Lag status"):
//
//   - a partition is OK when it has no lag at the last sample, or when its
//     committed offset moved during the window and its lag did not grow at
//     every step;
//   - WARN when its lag grew at every step of the window (the group moves,
//     but not fast enough);
//   - ERR when it had lag at every sample and its committed offset did not
//     move during the window (stalled);
//   - the group is ERR when a partition is, or when it has no live member
//     while messages wait; WARN when a partition is; else OK;
//   - fewer than two samples give UNKNOWN.
func Evaluate(window []Sample, now time.Time) Report {
	r := Report{Status: Unknown, Reason: "fewer than two samples", Samples: len(window), EvaluatedAt: now.UTC(),
		Partitions: []PartitionReport{}}
	if len(window) == 0 {
		return r
	}
	first, last := window[0], window[len(window)-1]
	r.Members, r.Group = last.Members, last.Group
	r.Window = last.At.Sub(first.At).Round(time.Millisecond).String()
	ids := make([]int, 0, len(last.Partitions))
	for p := range last.Partitions {
		ids = append(ids, p)
	}
	sort.Ints(ids)
	worst := OK
	for _, p := range ids {
		ls := last.Partitions[p]
		pr := PartitionReport{Partition: p, Lag: ls.Lag(), AppliedLag: ls.AppliedLag(),
			End: ls.End, Committed: ls.Committed, Applied: ls.Applied, Status: Unknown, Reason: "fewer than two samples"}
		if !ls.OldestUnconsumed.IsZero() && pr.Lag > 0 {
			pr.LagSeconds = max(0, last.At.Sub(ls.OldestUnconsumed).Seconds())
		}
		r.Lag += pr.Lag
		r.AppliedLag += pr.AppliedLag
		if len(window) >= 2 {
			pr.Status, pr.Reason = evaluatePartition(window, p)
			worst = max(worst, pr.Status)
		}
		r.Partitions = append(r.Partitions, pr)
	}
	if len(window) < 2 {
		return r
	}
	r.Status, r.Reason = worst, "every partition is keeping up"
	switch {
	case last.Members == 0 && (r.Lag > 0 || r.AppliedLag > 0):
		r.Status, r.Reason = Err, fmt.Sprintf("no member in the consumer group while %d messages wait", max(r.Lag, r.AppliedLag))
	case worst == Err:
		r.Reason = "a partition is stalled"
	case worst == Warn:
		r.Reason = "a partition's lag is growing"
	}
	return r
}

func evaluatePartition(window []Sample, p int) (Status, string) {
	lags := make([]int64, 0, len(window))
	var committed []int64
	for _, s := range window {
		ps, ok := s.Partitions[p]
		if !ok {
			continue
		}
		lags = append(lags, ps.Lag())
		committed = append(committed, ps.Committed)
	}
	if len(lags) < 2 {
		return Unknown, "fewer than two samples"
	}
	last := lags[len(lags)-1]
	if last == 0 {
		return OK, "caught up"
	}
	moved := committed[len(committed)-1] != committed[0]
	allLag := true
	growing := true
	for i, l := range lags {
		if l == 0 {
			allLag = false
		}
		if i > 0 && l <= lags[i-1] {
			growing = false
		}
	}
	switch {
	case allLag && !moved:
		return Err, fmt.Sprintf("stalled: %d messages wait and the committed offset has not moved in the window", last)
	case growing:
		return Warn, fmt.Sprintf("lag grew at every sample, from %d to %d", lags[0], last)
	}
	return OK, "consuming"
}
