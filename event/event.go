// Package event defines the event contract that publishers write to Kafka
// (docs/events.md, version 1): its Go type, its JSON encoding, and the
// validation rules every event passes before it may touch state.
//
// The package is pure (standard library only, no I/O). Decode turns a Kafka
// message value into an Event or into an *Error whose Reason names the
// dead-letter reason; Encode writes the canonical JSON form; Validate checks
// an Event built in Go (by a file loader, say) against the same rules.
package event

import (
	"time"
)

// Type is the kind of interaction an event records.
type Type string

const (
	// Purchase: the customer bought the item. Purchases build the
	// "customers who bought this also bought" lists.
	Purchase Type = "purchase"
	// View: the customer looked at the item.
	View Type = "view"
)

// Valid reports whether t is one of the known event types (Purchase, View).
func (t Type) Valid() bool { return t == Purchase || t == View }

// Topic defaults (docs/events.md, "Topics").
const (
	// DefaultTopic is the topic that carries both purchases and views unless
	// configured otherwise (ALSOBOUGHT_TOPIC).
	DefaultTopic = "alsobought.events"
	// DeadLetterSuffix is appended to the events topic to name its
	// dead-letter topic.
	DeadLetterSuffix = ".dlq"
)

// DeadLetterTopic returns the dead-letter topic of an events topic:
// topic + ".dlq".
func DeadLetterTopic(topic string) string { return topic + DeadLetterSuffix }

// Event is one customer-item interaction, as carried on the events topic.
//
// The JSON names are given in brackets; see docs/events.md for the contract.
// Time carries millisecond precision (Decode truncates finer digits, Validate
// rejects them). Compare events with Equal, not ==, because of the pointers
// and the time.Time location.
type Event struct {
	ID         string    // event_id: identifies the event for de-duplication
	Type       Type      // purchase or view
	CustomerID string    // customer_id: also the Kafka message key
	ItemID     string    // item_id
	Time       time.Time // ts: when the interaction happened (event time, UTC)
	Quantity   *float64  // optional
	Price      *float64  // optional
	Category   string    // optional, empty when absent
}

// Key returns the Kafka message key of the event: its customer id. The
// events topic is partitioned by the murmur2 hash of this key, like the Java
// clients' default partitioner (kafka-go: kafka.Murmur2Balancer).
func (e Event) Key() []byte { return []byte(e.CustomerID) }

// Equal reports whether e and o describe the same event: equal strings, the
// same instant (whatever the time.Location), and equal optional numbers
// (both absent, or both present with equal values).
func (e Event) Equal(o Event) bool {
	return e.ID == o.ID && e.Type == o.Type && e.CustomerID == o.CustomerID &&
		e.ItemID == o.ItemID && e.Category == o.Category && e.Time.Equal(o.Time) &&
		equalNum(e.Quantity, o.Quantity) && equalNum(e.Price, o.Price)
}

func equalNum(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
