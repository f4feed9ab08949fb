package woocommerce_test

import (
	"context"
	"testing"

	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sources/woocommerce"
)

func TestListCustomers(t *testing.T) {
	w := testWorld()
	want := map[int64]string{}
	for _, p := range w.People {
		if p.Shop != nil {
			want[p.Shop.ID] = p.Shop.Email
		}
	}
	tests := []struct {
		name      string
		limit     int
		wantCount int
		wantCalls int64
	}{
		{"all", 0, len(want), int64(len(want)/100 + 1)},
		{"bounded", 250, 250, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, u := newShop(t, sim.Faults{}, nil)
			got, err := c.ListCustomers(context.Background(), tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.wantCount {
				t.Fatalf("%d customers, want %d", len(got), tt.wantCount)
			}
			for i, cu := range got {
				if want[cu.ID] != cu.Email {
					t.Fatalf("customer %d has e-mail %q, want %q", cu.ID, cu.Email, want[cu.ID])
				}
				if i > 0 && cu.ID <= got[i-1].ID {
					t.Fatalf("customers not in id order at %d", cu.ID)
				}
			}
			if n := u.Routes()[custRoute]; n != tt.wantCalls {
				t.Errorf("%d calls, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestListProducts(t *testing.T) {
	w := testWorld()
	published := 0
	for _, p := range w.Products {
		if p.Status == "publish" {
			published++
		}
	}
	c, u := newShop(t, sim.Faults{}, nil)
	seen := map[string]bool{}
	for offset := 0; ; offset += 40 {
		page, err := c.ListProducts(context.Background(), woocommerce.ProductQuery{Offset: offset, PerPage: 40})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Products {
			if seen[p.SKU] {
				t.Fatalf("%s listed twice", p.SKU)
			}
			seen[p.SKU] = true
			if want := w.ProductBySKU(p.SKU); want == nil || want.Name != p.Name || !p.Price.Equal(want.Price()) {
				t.Fatalf("product %+v does not match the shop's", p)
			}
		}
		if len(page.Products) < 40 {
			if page.Total != len(seen) {
				t.Fatalf("total %d, listed %d", page.Total, len(seen))
			}
			break
		}
	}
	if len(seen) < published {
		t.Errorf("listed %d products, the shop publishes %d", len(seen), published)
	}
	page, err := c.ListProducts(context.Background(), woocommerce.ProductQuery{StockStatus: "outofstock"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range page.Products {
		if p.StockStatus != "outofstock" {
			t.Fatalf("%s is %s", p.SKU, p.StockStatus)
		}
	}
	if u.Routes()[productsRoute] == 0 {
		t.Error("no product list call counted")
	}
}
