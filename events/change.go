// Package events turns upstream signals (signed webhooks, and pollers for
// systems without them) into one Change event type, which invalidates the
// cache entries it touches and is published on the bus that subscriptions
// read.
package events

import (
	"time"

	"github.com/trestlehq/trestle/graph/model"
)

// Kind is the kind of record a change is about.
type Kind string

// The kinds of record the gateway follows.
const (
	KindOrder    Kind = "order"
	KindProduct  Kind = "product"
	KindStock    Kind = "stock"
	KindInvoice  Kind = "invoice"
	KindCustomer Kind = "customer"
)

// Op is what happened to the record.
type Op string

// The operations a change reports.
const (
	OpCreated Op = "created"
	OpUpdated Op = "updated"
	OpDeleted Op = "deleted"
)

// Change is one change of one upstream record.
type Change struct {
	// Seq orders every change the gateway has accepted; the bus assigns it,
	// and subscribers resume after the last one they saw.
	Seq    uint64       `json:"seq"`
	System model.System `json:"system"`
	Kind   Kind         `json:"kind"`
	Key    string       `json:"key"` // the record's key in its system (a stock change: the SKU)
	Op     Op           `json:"op"`
	At     time.Time    `json:"at"` // when the upstream made the change, UTC
	// Customer and Order name the records the changed one belongs to, where
	// the signal says: the customer of an order or invoice, the shop order
	// an invoice bills. They widen what the change invalidates.
	Customer string `json:"customer,omitempty"`
	Order    string `json:"order,omitempty"`
}

// record names the changed record across systems.
func (c Change) record() string {
	return string(c.System) + "/" + string(c.Kind) + "/" + c.Key
}

// ID identifies the change, whichever signal reported it: its record, its
// upstream time and its operation.
func (c Change) ID() string {
	return c.record() + "@" + c.At.UTC().Format(time.RFC3339Nano) + "/" + string(c.Op)
}
