package model

// Customer is one consolidated customer: the keys under which each system
// knows them, joined by the join key (the normalised e-mail address unless
// the config names another field). The records behind the keys are loaded
// when a field needs them.
type Customer struct {
	// JoinKey is the normalised value the records were joined by; empty for
	// a customer whose only record lacks it.
	JoinKey string
	// Email is the normalised e-mail address, when a record has one.
	Email  string
	CRMID  string // empty when the CRM does not know them
	ShopID int64  // 0 when they have no shop account
	ERPID  string // empty when the ERP does not know them
}

// Key identifies the customer in a global ID: the join key when there is
// one, else the e-mail address ("email:…", a guest buyer the directory does
// not know), else the one system key there is ("erp:CUST-2025-00012").
func (c Customer) Key() string {
	switch {
	case c.JoinKey != "":
		return c.JoinKey
	case c.Email != "":
		return "email:" + c.Email
	case c.ERPID != "":
		return "erp:" + c.ERPID
	case c.CRMID != "":
		return "crm:" + c.CRMID
	default:
		return "shop:" + itoa(c.ShopID)
	}
}
