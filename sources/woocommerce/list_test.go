package woocommerce_test

import (
	"context"
	"testing"

	"github.com/trestlehq/trestle/sim"
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
