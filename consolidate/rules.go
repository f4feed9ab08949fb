// Package consolidate holds the rules that make one customer out of the
// records three systems keep: the join key (the normalised e-mail address),
// which system owns which field, and the directory that maps each system's
// key to the joined customer.
package consolidate

import (
	"errors"
	"slices"
	"strings"

	"github.com/trestlehq/trestle/graph/model"
)

// Records are the records of one customer that a field's owners keep; nil
// where the system does not know the customer (or was not asked).
type Records struct {
	Contact *model.Contact
	Shop    *model.ShopCustomer
	ERP     *model.ERPCustomer
}

// Rule says which systems answer a customer field, in order of precedence,
// and how each system's record gives it. The first system in Owners that
// knows the customer and has a value answers. A system that knows the
// customer but fails leaves the field null with its error: a lower system
// never silently stands in for a failing owner.
type Rule struct {
	Owners []model.System
	Value  func(r Records, from model.System) string
}

// The customer fields drawn from the systems' records. Contact data belongs
// to the CRM; the shop and then the ERP fill in for customers the CRM does
// not know.
var (
	Name = Rule{
		Owners: []model.System{model.SystemCRM, model.SystemShop, model.SystemERP},
		Value: func(r Records, from model.System) string {
			switch from {
			case model.SystemCRM:
				return fullName(r.Contact.FirstName, r.Contact.LastName)
			case model.SystemShop:
				return fullName(r.Shop.FirstName, r.Shop.LastName)
			default:
				return r.ERP.Name
			}
		},
	}
	Company = Rule{
		Owners: []model.System{model.SystemCRM, model.SystemShop, model.SystemERP},
		Value: func(r Records, from model.System) string {
			switch from {
			case model.SystemCRM:
				return r.Contact.Company
			case model.SystemShop:
				return r.Shop.Company
			default:
				if r.ERP.Type == "Company" {
					return r.ERP.Name
				}
				return ""
			}
		},
	}
	Phone = Rule{
		Owners: []model.System{model.SystemCRM, model.SystemShop},
		Value: func(r Records, from model.System) string {
			if from == model.SystemCRM {
				return r.Contact.Phone
			}
			return r.Shop.Phone
		},
	}
	LifecycleStage = Rule{
		Owners: []model.System{model.SystemCRM},
		Value:  func(r Records, _ model.System) string { return r.Contact.LifecycleStage },
	}
	Owner = Rule{
		Owners: []model.System{model.SystemCRM},
		Value:  func(r Records, _ model.System) string { return r.Contact.OwnerID },
	}
)

// Knows reports whether a system has a record of the customer.
func Knows(c model.Customer, s model.System) bool {
	switch s {
	case model.SystemCRM:
		return c.CRMID != ""
	case model.SystemShop:
		return c.ShopID != 0
	default:
		return c.ERPID != ""
	}
}

// Has reports whether the records hold the given system's record.
func (r Records) Has(s model.System) bool {
	switch s {
	case model.SystemCRM:
		return r.Contact != nil
	case model.SystemShop:
		return r.Shop != nil
	default:
		return r.ERP != nil
	}
}

// SalesStatuses are the shop order statuses that count towards a customer's
// lifetime value: paid and not cancelled, refunded or failed.
var SalesStatuses = []string{"processing", "completed"}

// ErrMixedCurrencies is returned for amounts in more than one currency,
// which cannot be summed.
var ErrMixedCurrencies = errors.New("amounts in more than one currency cannot be summed")

// LifetimeValue sums the orders that count as sales; nil when none does.
func LifetimeValue(orders []*model.Order) (*model.Money, error) {
	var sum *model.Money
	for _, o := range orders {
		if !slices.Contains(SalesStatuses, o.Status) {
			continue
		}
		if sum == nil {
			sum = &model.Money{Currency: o.Currency}
		}
		if o.Currency != sum.Currency {
			return nil, ErrMixedCurrencies
		}
		var err error
		if sum.Amount, err = sum.Amount.Add(o.Total); err != nil {
			return nil, err
		}
	}
	return sum, nil
}

func fullName(first, last string) string {
	return strings.TrimSpace(first + " " + last)
}

// OpenBalance sums what is outstanding on submitted invoices; drafts and
// cancelled invoices owe nothing. Nil when there is no submitted invoice to
// take the currency from.
func OpenBalance(invs []model.Invoice) (*model.Money, error) {
	var sum *model.Money
	for _, inv := range invs {
		if !inv.Submitted() {
			continue
		}
		if sum == nil {
			sum = &model.Money{Currency: inv.Outstanding.Currency}
		}
		if inv.Outstanding.Currency != sum.Currency {
			return nil, ErrMixedCurrencies
		}
		var err error
		if sum.Amount, err = sum.Amount.Add(inv.Outstanding.Amount); err != nil {
			return nil, err
		}
	}
	return sum, nil
}

// GuestOrderOf reports whether an order was placed without an account
// under this (normalised) e-mail address.
func GuestOrderOf(o *model.Order, email string) bool {
	return o.CustomerID == 0 && model.NormalizeEmail(o.BillingEmail) == email
}
