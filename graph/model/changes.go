package model

import "time"

// OrderChange is a change to a shop order as a subscription event. The
// order is read again for the event (the graph's orderChange resolver), so
// that a read that fails reaches the client as the field's error, never as
// a silently dropped event or a null without one.
type OrderChange struct {
	Cursor  string          `json:"cursor"`
	Op      ChangeOperation `json:"op"`
	At      time.Time       `json:"at"`
	OrderID int64           `json:"-"` // the changed order
}

// InvoiceChange is a change to an ERP invoice as a subscription event; the
// invoice is read again for the event, as OrderChange's order is.
type InvoiceChange struct {
	Cursor    string          `json:"cursor"`
	Op        ChangeOperation `json:"op"`
	At        time.Time       `json:"at"`
	InvoiceID string          `json:"-"` // the changed invoice
}

// CustomerChange is a change to a customer's record in one system as a
// subscription event, with the customer as the directory joins them.
type CustomerChange struct {
	Cursor string          `json:"cursor"`
	Op     ChangeOperation `json:"op"`
	At     time.Time       `json:"at"`
	// Source is the system whose record changed.
	Source   SourceSystem `json:"source"`
	Customer *Customer    `json:"-"` // answered by the graph's resolver, which reports the directory's gaps
}
