package resolvers

import (
	"strings"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/store"
)

// system is the store's name of a graph's source system.
func system(s model.SourceSystem) model.System { return model.System(strings.ToLower(string(s))) }

// source is the graph's name of a system.
func source(s model.System) model.SourceSystem { return model.SourceSystem(strings.ToUpper(string(s))) }

// invoiceMismatch maps a store invoice mismatch to the graph's.
func invoiceMismatch(m store.InvoiceMismatch) model.InvoiceMismatch {
	out := model.InvoiceMismatch{InvoiceNumber: m.Invoice, OrderID: m.OrderID, OrderNumber: m.OrderNumber,
		InvoiceTotal: &model.Money{Amount: m.InvoiceTotal, Currency: m.InvoiceCurrency},
		OrderTotal:   &model.Money{Amount: m.OrderTotal, Currency: m.OrderCurrency}}
	if d, ok := m.Difference(); ok {
		out.Difference = &model.Money{Amount: d, Currency: m.InvoiceCurrency}
	}
	return out
}

// missingCustomer maps a store missing customer to the graph's.
func missingCustomer(m store.MissingCustomer) model.MissingCustomer {
	out := model.MissingCustomer{Customer: reportCustomer(&m.Customer), KnownTo: sources(m.Known), MissingFrom: sources(m.Missing)}
	if m.Name != "" {
		out.Name = &m.Name
	}
	return out
}

// sources are the graph's names of systems.
func sources(ss []model.System) []model.SourceSystem {
	out := make([]model.SourceSystem, len(ss))
	for i, s := range ss {
		out[i] = source(s)
	}
	return out
}

// fieldDisagreement maps a store field disagreement to the graph's.
func fieldDisagreement(d store.FieldDisagreement) model.FieldDisagreement {
	out := model.FieldDisagreement{Customer: reportCustomer(&d.Customer), Field: model.CustomerField(strings.ToUpper(string(d.Field))),
		Values: make([]model.SourceValue, len(d.Values))}
	for i, v := range d.Values {
		out.Values[i] = model.SourceValue{Source: source(v.System), Value: v.Value}
	}
	return out
}

// duplicateCustomer maps a store system's duplicate records to the graph's.
func duplicateCustomer(d store.Duplicates) model.DuplicateCustomer {
	out := model.DuplicateCustomer{Source: source(d.System), JoinKey: d.JoinKey, Records: make([]model.DuplicateRecord, len(d.Records))}
	for i, r := range d.Records {
		out.Records[i] = model.DuplicateRecord{ID: r.ID, Customer: reportCustomer(&r.Customer)}
	}
	return out
}
