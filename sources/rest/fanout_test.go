package rest_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trestlehq/trestle/sources/rest"
)

func TestFanOut(t *testing.T) {
	keys := make([]int, 250)
	for i := range keys {
		keys[i] = i
	}
	tests := []struct {
		name       string
		keys       []int
		size       int
		wantChunks []int
	}{
		{name: "empty", keys: nil, size: 100, wantChunks: nil},
		{name: "one chunk", keys: keys[:100], size: 100, wantChunks: []int{100}},
		{name: "250 keys in chunks of 100", keys: keys, size: 100, wantChunks: []int{100, 100, 50}},
		{name: "no size means one chunk", keys: keys, size: 0, wantChunks: []int{250}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var chunks []int
			var inFlight, peak atomic.Int64
			sizes := make(chan int, 10)
			got, err := rest.FanOut(context.Background(), tt.keys, tt.size, 2, func(ctx context.Context, chunk []int) ([]string, error) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
				sizes <- len(chunk)
				out := make([]string, len(chunk))
				for i, k := range chunk {
					out[i] = string(rune('a' + k%26))
				}
				return out, nil
			})
			close(sizes)
			for s := range sizes {
				chunks = append(chunks, s)
			}
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(chunks)
			want := slices.Clone(tt.wantChunks)
			slices.Sort(want)
			if !slices.Equal(chunks, want) {
				t.Errorf("chunks %v, want %v", chunks, want)
			}
			if len(got) != len(tt.keys) {
				t.Errorf("got %d results, want %d", len(got), len(tt.keys))
			}
			for i, k := range tt.keys {
				if got[i] != string(rune('a'+k%26)) {
					t.Fatalf("result %d out of key order", i)
				}
			}
			if peak.Load() > 2 {
				t.Errorf("%d calls in flight, want at most 2", peak.Load())
			}
		})
	}
}

func TestFanOutFailureCancelsTheRest(t *testing.T) {
	boom := errors.New("boom")
	keys := make([]int, 500)
	var canceled atomic.Int64
	_, err := rest.FanOut(context.Background(), keys, 100, 5, func(ctx context.Context, chunk []int) ([]int, error) {
		if &chunk[0] == &keys[0] {
			return nil, boom
		}
		select {
		case <-ctx.Done():
			canceled.Add(1)
			return nil, ctx.Err()
		case <-time.After(time.Second):
			return chunk, nil
		}
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if canceled.Load() != 4 {
		t.Errorf("%d other calls saw the cancel, want 4", canceled.Load())
	}
}
