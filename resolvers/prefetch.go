package resolvers

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/loaders"
)

// A list resolver knows every key its items' fields will ask for, so it
// hands each next level's keys to the loaders in one LoadMany before the
// items are resolved. Each loader's batch then holds the whole level,
// however the item resolvers are scheduled, and independent levels (an
// order's invoices, its lines' products and their stock) go upstream at
// once. The item resolvers' own loads find the prefetched results in the
// operation's loaders.

// satisfying are, by type name, the type conditions a fragment may name
// and still apply at a field of that type: an object, its interfaces; an
// interface or union, every type it may be. A selection is collected with
// these alone: each name costs every collection a hash. Read from the
// schema once.
var satisfying = sync.OnceValue(func() map[string][]string {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	names := map[string][]string{}
	for name, def := range schema.Types {
		set := []string{name}
		if def.IsAbstractType() {
			for _, t := range schema.GetPossibleTypes(def) {
				set = append(set, t.Name)
			}
		}
		for _, i := range schema.GetImplements(def) {
			set = append(set, i.Name)
		}
		names[name] = set
	}
	return names
})

// selection is the set of fields selected below the field being resolved.
type selection struct {
	op     *graphql.OperationContext
	fields []graphql.CollectedField
}

func selectionOf(ctx context.Context) selection {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Definition == nil {
		return selection{}
	}
	return selectionAs(ctx, fc.Field.Definition.Type.Name())
}

// selectionAs is the selection below the field being resolved where it is
// of type typ: a federated router's _entities asks for several types at
// once, each under its own fragment.
func selectionAs(ctx context.Context, typ string) selection {
	fc := graphql.GetFieldContext(ctx)
	op := graphql.GetOperationContext(ctx)
	if fc == nil || op == nil {
		return selection{}
	}
	return selection{op: op, fields: graphql.CollectFields(op, fc.Field.Selections, satisfying()[typ])}
}

// collect gathers the fields selected below f.
func collect(op *graphql.OperationContext, f *ast.Field) []graphql.CollectedField {
	if f.Definition == nil {
		return nil
	}
	return graphql.CollectFields(op, f.SelectionSet, satisfying()[f.Definition.Type.Name()])
}

// at returns the selection below the fields at path, merged over aliases.
func (s selection) at(path ...string) selection {
	for _, name := range path {
		var next []graphql.CollectedField
		for _, f := range s.fields {
			if f.Name == name {
				next = append(next, collect(s.op, f.Field)...)
			}
		}
		s.fields = next
	}
	return s
}

// has reports whether any field at path is selected.
func (s selection) has(path ...string) bool {
	if len(path) == 0 {
		return len(s.fields) > 0
	}
	parent := s.at(path[:len(path)-1]...)
	for _, f := range parent.fields {
		if f.Name == path[len(path)-1] {
			return true
		}
	}
	return false
}

// prefetch runs a level's loads side by side and waits for them all.
type prefetch []func()

func (p prefetch) run() {
	var wg sync.WaitGroup
	for _, f := range p {
		wg.Go(f)
	}
	wg.Wait()
}

// add queues a loader's prefetch of keys, if there are any.
func add[K comparable, V any](p *prefetch, ctx context.Context, l *loaders.Loader[K, V], keys []K) {
	if len(keys) > 0 {
		*p = append(*p, func() { l.Prefetch(ctx, keys) })
	}
}

// prefetchOrders loads what the selected fields of these orders need.
func (r *Resolver) prefetchOrders(ctx context.Context, orders []*model.Order, node selection) {
	if len(orders) == 0 || !node.has() {
		return
	}
	l := loaders.For(ctx)
	var p prefetch
	if node.has("invoices") {
		ids := make([]int64, len(orders))
		for i, o := range orders {
			ids[i] = o.ID
		}
		add(&p, ctx, l.OrderInvoices, ids)
	}
	if product := node.at("lines", "product"); product.has() {
		var skus []string
		for _, o := range orders {
			for _, line := range o.Lines {
				if line.SKU != "" {
					skus = append(skus, line.SKU)
				}
			}
		}
		add(&p, ctx, l.Product, skus)
		if product.has("stock") || product.has("available") {
			add(&p, ctx, l.Stock, skus)
		}
	}
	if customer := node.at("customer"); customer.has() && r.directory(ctx).Wait(ctx) == nil {
		customers := make([]*model.Customer, 0, len(orders))
		for _, o := range orders {
			if c := r.directory(ctx).OrderCustomer(o); c != nil {
				customers = append(customers, c)
			}
		}
		r.prefetchCustomers(&p, ctx, customers, customer)
	}
	p.run()
}

// prefetchCustomers queues the loads the selected fields of these customers
// need: each rule's owning record, balances, lifetime values and credit
// limits.
func (r *Resolver) prefetchCustomers(p *prefetch, ctx context.Context, customers []*model.Customer, sel selection) {
	l := loaders.For(ctx)
	// What the selection asks for is the same for every customer.
	var rules []consolidate.Rule
	for field, rule := range map[string]consolidate.Rule{"name": consolidate.Name, "company": consolidate.Company,
		"phone": consolidate.Phone, "lifecycleStage": consolidate.LifecycleStage, "owner": consolidate.Owner} {
		if sel.has(field) {
			rules = append(rules, rule)
		}
	}
	creditLimit, openBalance, lifetimeValue := sel.has("creditLimit"), sel.has("openBalance"), sel.has("lifetimeValue")

	var contacts, erpCustomers, balances []string
	var shopCustomers, lifetimes []int64
	for _, c := range customers {
		for _, rule := range rules {
			// The first owner that knows the customer is asked; the next
			// ones only when it has no value, which is rare enough to be
			// left to the field's own load. None is asked past an owner
			// the directory cannot tell knows the customer: the field
			// fails there (ruleValue).
			for _, s := range rule.Owners {
				if g, open := r.directory(ctx).Unknown(*c, s); open && !g.Stale() {
					break
				}
				if consolidate.Knows(*c, s) {
					switch s {
					case model.SystemCRM:
						contacts = append(contacts, c.CRMID)
					case model.SystemShop:
						shopCustomers = append(shopCustomers, c.ShopID)
					default:
						erpCustomers = append(erpCustomers, c.ERPID)
					}
					break
				}
			}
		}
		if creditLimit && c.ERPID != "" {
			erpCustomers = append(erpCustomers, c.ERPID)
		}
		if openBalance && c.ERPID != "" {
			balances = append(balances, c.ERPID)
		}
		if lifetimeValue && c.ShopID != 0 {
			lifetimes = append(lifetimes, c.ShopID)
		}
	}
	add(p, ctx, l.Contact, contacts)
	add(p, ctx, l.ShopCustomer, shopCustomers)
	add(p, ctx, l.ERPCustomer, erpCustomers)
	add(p, ctx, l.CustomerInvoices, balances)
	add(p, ctx, l.LifetimeValue, lifetimes)
}

// prefetchInvoices loads what the selected fields of these invoices need.
func (r *Resolver) prefetchInvoices(ctx context.Context, invs []*model.Invoice, node selection) {
	if len(invs) == 0 {
		return
	}
	var p prefetch
	if node.has("order") {
		var ids []int64
		for _, inv := range invs {
			if id, ok := orderID(inv.OrderRef); ok {
				ids = append(ids, id)
			}
		}
		add(&p, ctx, loaders.For(ctx).Order, ids)
	}
	if customer := node.at("customer"); customer.has() && r.directory(ctx).Wait(ctx) == nil {
		customers := make([]*model.Customer, len(invs))
		for i, inv := range invs {
			customers[i] = r.directory(ctx).InvoiceCustomer(inv)
		}
		r.prefetchCustomers(&p, ctx, customers, customer)
	}
	p.run()
}
