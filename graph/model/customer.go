package model

// Customer is one consolidated customer: the keys under which each system
// knows them, joined by the normalised e-mail address. The records behind
// the keys are loaded when a field needs them.
type Customer struct {
	// Email is the join key (normalised); empty for a customer whose only
	// record has no e-mail address.
	Email  string
	CRMID  string // empty when the CRM does not know them
	ShopID int64  // 0 when they have no shop account
	ERPID  string // empty when the ERP does not know them
}

// Key identifies the customer in a global ID: the e-mail when there is one,
// else the one system key there is.
func (c Customer) Key() string {
	switch {
	case c.Email != "":
		return c.Email
	case c.ERPID != "":
		return "erp:" + c.ERPID
	case c.CRMID != "":
		return "crm:" + c.CRMID
	default:
		return "shop:" + itoa(c.ShopID)
	}
}
