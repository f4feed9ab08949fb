package loaders

import (
	"sync"
	"sync/atomic"

	"github.com/trestlehq/trestle/cache"
)

// reads are what an operation read, for the response cache to know what
// its answer depends on: the records and list pages its loaders read, and
// whether it read the customer directory or what no change reports. Nil
// when no answers are kept: nothing is noted.
type reads struct {
	mu        sync.Mutex
	keys      map[string]struct{}
	directory atomic.Bool
	untracked atomic.Bool
}

// add notes a read: its key, as cache.Read or cache.ListRead write it.
func (r *reads) add(key string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.keys == nil {
		r.keys = map[string]struct{}{}
	}
	r.keys[key] = struct{}{}
	r.mu.Unlock()
}

// ReadDirectory notes that the operation read the customer directory.
func (l *Loaders) ReadDirectory() {
	if l.reads != nil {
		l.reads.directory.Store(true)
	}
}

// ReadUntracked notes that the operation read what no change reports (the
// reporting store): its answer is not to be kept.
func (l *Loaders) ReadUntracked() {
	if l.reads != nil {
		l.reads.untracked.Store(true)
	}
}

// Reads are what the operation has read so far.
func (l *Loaders) Reads() cache.Reads {
	r := l.reads
	if r == nil {
		return cache.Reads{Untracked: true}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := cache.Reads{Keys: make([]string, 0, len(r.keys)), Directory: r.directory.Load(), Untracked: r.untracked.Load()}
	for k := range r.keys {
		out.Keys = append(out.Keys, k)
	}
	return out
}
