package model

import "time"

// UninvoicedOrder is a completed shop order no ERP invoice bills; the
// order itself is read live by its id.
type UninvoicedOrder struct {
	OrderID     int64
	Number      string
	CompletedAt time.Time
	Total       *Money
}
