package events

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trestlehq/trestle/graph/model"
)

func TestDedupe(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	order := func(key string, at time.Time, op Op) Change {
		return Change{System: model.SystemShop, Kind: KindOrder, Key: key, At: at, Op: op}
	}
	tests := []struct {
		name string
		in   []Change
		want []int // indexes of in that pass
	}{
		{"a repeat is dropped", []Change{order("1", t0, OpUpdated), order("1", t0, OpUpdated)}, []int{0}},
		{"a newer change passes", []Change{order("1", t0, OpUpdated), order("1", t0.Add(time.Second), OpUpdated)}, []int{0, 1}},
		{"an older change than one passed is dropped", []Change{order("1", t0.Add(time.Second), OpUpdated), order("1", t0, OpUpdated)}, []int{0}},
		{"created and updated in one tick both pass", []Change{order("1", t0, OpCreated), order("1", t0, OpUpdated), order("1", t0, OpCreated)}, []int{0, 1}},
		{"records are apart", []Change{order("1", t0, OpUpdated), order("2", t0, OpUpdated)}, []int{0, 1}},
		{"systems are apart", []Change{order("1", t0, OpUpdated), {System: model.SystemERP, Kind: KindOrder, Key: "1", At: t0, Op: OpUpdated}}, []int{0, 1}},
		{"kinds are apart", []Change{order("1", t0, OpUpdated), {System: model.SystemShop, Kind: KindProduct, Key: "1", At: t0, Op: OpUpdated}}, []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Change
			sink := NewDedupe(10).Sink(func(_ context.Context, cs []Change) error {
				got = append(got, cs...)
				return nil
			})
			// One at a time, as separate deliveries, and all at once, as
			// one batch: the same passes.
			for _, c := range tt.in {
				if err := sink(context.Background(), []Change{c}); err != nil {
					t.Fatal(err)
				}
			}
			one := got
			got = nil
			sink = NewDedupe(10).Sink(func(_ context.Context, cs []Change) error {
				got = append(got, cs...)
				return nil
			})
			if err := sink(context.Background(), tt.in); err != nil {
				t.Fatal(err)
			}
			for _, run := range [][]Change{one, got} {
				if len(run) != len(tt.want) {
					t.Fatalf("passed %+v, want %v of the input", run, tt.want)
				}
				for i, j := range tt.want {
					if run[i] != tt.in[j] {
						t.Fatalf("passed %+v, want %v of the input", run, tt.want)
					}
				}
			}
		})
	}
}

func TestDedupeForgetsWhatWasNotTaken(t *testing.T) {
	c := Change{System: model.SystemERP, Kind: KindInvoice, Key: "SINV-1", At: time.Now(), Op: OpUpdated}
	fail := errors.New("bus down")
	var taken int
	sink := NewDedupe(10).Sink(func(_ context.Context, cs []Change) error {
		if fail != nil {
			return fail
		}
		taken += len(cs)
		return nil
	})
	if err := sink(context.Background(), []Change{c}); !errors.Is(err, fail) {
		t.Fatalf("err %v, want the bus's", err)
	}
	fail = nil
	for range 2 {
		if err := sink(context.Background(), []Change{c}); err != nil {
			t.Fatal(err)
		}
	}
	if taken != 1 {
		t.Fatalf("taken %d times after a refusal and two retries, want once", taken)
	}
}

func TestDedupeRemembersTheLatestRecords(t *testing.T) {
	at := time.Now()
	var taken int
	sink := NewDedupe(2).Sink(func(_ context.Context, cs []Change) error {
		taken += len(cs)
		return nil
	})
	send := func(key string) {
		if err := sink(context.Background(), []Change{{System: model.SystemShop, Kind: KindOrder, Key: key, At: at}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"a", "b", "c", "c", "b"} {
		send(k)
	}
	if taken != 3 {
		t.Fatalf("taken %d, want a, b, c once each: the two latest are remembered", taken)
	}
	send("a") // forgotten when c came
	if taken != 4 {
		t.Fatalf("taken %d, want the forgotten record taken again", taken)
	}
}
