package model

import (
	"encoding/base64"
	"errors"
	"strings"
)

// Global IDs are Relay style: base64 of "Type:key", opaque to clients and
// stable across restarts.

// GlobalID encodes a type name and a key into a global ID.
func GlobalID(typ, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(typ + ":" + key))
}

// ErrBadID is returned for a global ID that Trestle did not make.
var ErrBadID = errors.New("not a Trestle global ID")

// ParseGlobalID splits a global ID into its type name and key.
func ParseGlobalID(id string) (typ, key string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(id, "="))
	if err != nil {
		return "", "", ErrBadID
	}
	typ, key, ok := strings.Cut(string(raw), ":")
	if !ok || typ == "" || key == "" {
		return "", "", ErrBadID
	}
	return typ, key, nil
}

// IsNode and GetID make the graph's object types Relay nodes; IsEntity
// makes them a federated graph's entities, which other subgraphs refer to
// by key.

func (Customer) IsNode()         {}
func (c Customer) GetID() string { return GlobalID("Customer", c.Key()) }
func (*Order) IsNode()           {}
func (o *Order) GetID() string   { return GlobalID("Order", itoa(o.ID)) }
func (*Product) IsNode()         {}
func (p *Product) GetID() string { return GlobalID("Product", p.SKU) }
func (*Invoice) IsNode()         {}
func (i *Invoice) GetID() string { return GlobalID("Invoice", i.ID) }

func (Customer) IsEntity() {}
func (*Order) IsEntity()   {}
func (*Product) IsEntity() {}
func (*Invoice) IsEntity() {}
