package consolidate

import (
	"strings"

	"github.com/trestlehq/trestle/graph/model"
)

// JoinKey is the field that joins one customer's records across the three
// systems, and how its values are compared. The default is the e-mail
// address; a config may name the phone number instead.
type JoinKey struct {
	name      string
	normalize func(string) string
	crm       func(*model.Contact) string
	shop      func(*model.ShopCustomer) string
	erp       func(*model.ERPCustomer) string
}

// The join keys a config can name.
var (
	JoinByEmail = JoinKey{
		name:      "email",
		normalize: model.NormalizeEmail,
		crm:       func(c *model.Contact) string { return c.Email },
		shop:      func(c *model.ShopCustomer) string { return c.Email },
		erp:       func(c *model.ERPCustomer) string { return c.Email },
	}
	JoinByPhone = JoinKey{
		name:      "phone",
		normalize: NormalizePhone,
		crm:       func(c *model.Contact) string { return c.Phone },
		shop:      func(c *model.ShopCustomer) string { return c.Phone },
		erp:       func(c *model.ERPCustomer) string { return c.Phone },
	}
)

// JoinKeys lists the join keys by the name a config uses.
var JoinKeys = map[string]JoinKey{"email": JoinByEmail, "phone": JoinByPhone}

func (k JoinKey) String() string { return k.name }

// Contact is a CRM contact's join key value, normalised; empty when it has
// none.
func (k JoinKey) Contact(c *model.Contact) string { return k.normalize(k.crm(c)) }

// ShopCustomer is a shop account's join key value, normalised.
func (k JoinKey) ShopCustomer(c *model.ShopCustomer) string { return k.normalize(k.shop(c)) }

// ERPCustomer is an ERP customer's join key value, normalised.
func (k JoinKey) ERPCustomer(c *model.ERPCustomer) string { return k.normalize(k.erp(c)) }

// NormalizePhone reduces a phone number to its digits, with a leading "+"
// when it is written internationally ("+49 (30) 1234-5678" and
// "0049 30 12345678" both become "+493012345678"). Numbers of fewer than six
// digits are no key at all.
func NormalizePhone(s string) string {
	// International when a "+" comes before the first digit, as in
	// "+49 …" or "(+49) …".
	international := false
	if i := strings.IndexAny(s, "+0123456789"); i >= 0 {
		international = s[i] == '+'
	}
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	digits := b.String()
	if !international && strings.HasPrefix(digits, "00") {
		digits, international = digits[2:], true
	}
	if len(digits) < 6 {
		return ""
	}
	if international {
		return "+" + digits
	}
	return digits
}
