// Package event defines the event contract that publishers write to Kafka
// (docs/events.md): its Go type, its JSON encoding, and the validation rules
// every event passes before it may touch state.
package event

import "time"

// Type is the kind of interaction an event records.
type Type string

const (
	// Purchase: the customer bought the item. Purchases build the
	// "customers who bought this also bought" lists.
	Purchase Type = "purchase"
	// View: the customer looked at the item.
	View Type = "view"
)

// Event is one customer-item interaction, as carried on the events topic.
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
