package loaders

import "github.com/trestlehq/trestle/graph/model"

// EntrySize estimates the bytes a cached value takes, for the cache's memory
// bound: the structs, their strings and their slices, roughly. It errs on
// the high side; an unknown type counts as 1 KiB.
func EntrySize(v any) int64 {
	const str = 32 // a typical string's header and bytes
	switch v := v.(type) {
	case *model.Order:
		return 400 + int64(len(v.Lines))*(200+3*str)
	case *model.ShopCustomer, *model.Contact, *model.ERPCustomer:
		return 400
	case *model.Product:
		return 300
	case *model.Invoice:
		return 350
	case []model.Invoice:
		return 48 + int64(len(v))*350
	case []model.StockLevel:
		return 48 + int64(len(v))*180
	case *model.Money:
		return 64
	case *page[int64, model.Order]:
		n := 64 + int64(len(v.keys))*8
		for _, o := range v.partial {
			n += EntrySize(o)
		}
		return n
	case *page[string, model.Product]:
		return 64 + int64(len(v.keys))*str
	case *page[string, model.Invoice]:
		return 64 + int64(len(v.keys))*str
	default:
		return 1 << 10
	}
}
