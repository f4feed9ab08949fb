package model

// InvoiceMismatch is an ERP invoice that bills its shop order for another
// total; the invoice and the order are read live by their keys.
type InvoiceMismatch struct {
	InvoiceNumber string
	OrderID       int64
	OrderNumber   string
	InvoiceTotal  *Money
	OrderTotal    *Money
	Difference    *Money // nil across currencies
}
