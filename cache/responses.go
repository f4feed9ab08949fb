package cache

import (
	"container/list"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trestlehq/trestle/graph/model"
)

// DefaultResponseBytes bounds the response cache unless configured.
const DefaultResponseBytes = 64 << 20

// Responses keeps whole answers to queries, each with what it read, and
// drops an answer as soon as a change invalidates anything it read (see
// Entities.Invalidate), or when the shortest TTL of what it read has
// passed. It holds at most its bytes, dropping the least recently used
// answers first. It is safe for concurrent use.
type Responses struct {
	max int64
	ttl func(Kind) time.Duration // an entity kind's TTL, which bounds the answers that read it
	now func() time.Time

	mu      sync.Mutex
	bytes   int64
	entries map[string]*list.Element // of *answer, most recently used first
	lru     list.List
	byRead  map[string]map[string]struct{} // a read (Read.key) → the answers that made it
	// seq counts invalidations; dropped is, by scope (system and kind),
	// the seq of its last one: an answer made while its scope was
	// invalidated is not kept.
	seq     uint64
	dropped map[string]uint64

	hits, misses, evictions, stored atomic.Int64
}

// answer is a kept answer.
type answer struct {
	key       string
	data      []byte
	reads     []string
	directory *uint64 // the customer directory's version it was made at; nil if it read none
	expires   time.Time
	cost      int64
}

// Reads are what an execution read: records and list pages of the
// systems (their keys as Read writes them) and whether the customer
// directory was read. Untracked says it read something no change
// reports (the reporting store), so its answer is not kept.
type Reads struct {
	Keys      []string
	Directory bool
	Untracked bool
}

// Read is the key of a record of a system's kind as an answer's read;
// ListRead's stands for a list of the kind, which any change of it
// affects.
func Read(system model.System, kind Kind, id string) string {
	return scopeOf(system, kind) + id
}

// ListRead is the key of a list of a system's kind as an answer's read.
func ListRead(system model.System, kind Kind) string { return Read(system, kind, anyID) }

const anyID = "*"

func scopeOf(system model.System, kind Kind) string { return string(system) + "/" + string(kind) + "/" }

// scopeAndKind split a read's key.
func scopeAndKind(read string) (scope string, kind Kind) {
	system, rest, _ := strings.Cut(read, "/")
	k, _, _ := strings.Cut(rest, "/")
	return system + "/" + k + "/", Kind(k)
}

// newResponses makes a response cache of at most maxBytes (0: the
// default), whose answers live no longer than the TTL of what they read.
func newResponses(maxBytes int64, ttl func(Kind) time.Duration, now func() time.Time) *Responses {
	if maxBytes <= 0 {
		maxBytes = DefaultResponseBytes
	}
	return &Responses{max: maxBytes, ttl: ttl, now: now, entries: map[string]*list.Element{},
		byRead: map[string]map[string]struct{}{}, dropped: map[string]uint64{}}
}

// Begin is taken when an execution starts, and handed to Put with its
// answer.
func (r *Responses) Begin() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq
}

// Get answers key from the cache: the data kept, if it is still fresh and
// the directory has not changed since it was made (directory is the
// directory's version now).
func (r *Responses) Get(key string, directory uint64) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	el, ok := r.entries[key]
	if !ok {
		r.misses.Add(1)
		return nil, false
	}
	a := el.Value.(*answer)
	if r.now().After(a.expires) || a.directory != nil && *a.directory != directory {
		r.remove(el)
		r.misses.Add(1)
		return nil, false
	}
	r.lru.MoveToFront(el)
	r.hits.Add(1)
	return a.data, true
}

// Put keeps data as the answer to key, made from reads by an execution
// that began at begun, at the directory's version directory, for the
// shortest TTL of what it read (the customers' for the directory alone).
// It keeps nothing when the answer read what no change reports, or when a
// scope it read was invalidated since it began (it may hold what was read
// before). It reports whether it kept it.
func (r *Responses) Put(key string, data []byte, reads Reads, begun, directory uint64) bool {
	if reads.Untracked || len(reads.Keys) == 0 && !reads.Directory {
		return false
	}
	ttl := r.ttl(Customers)
	scopes := map[string]bool{}
	for _, k := range reads.Keys {
		scope, kind := scopeAndKind(k)
		scopes[scope] = true
		ttl = min(ttl, r.ttl(kind))
	}
	a := &answer{key: key, data: data, reads: reads.Keys, expires: r.now().Add(ttl)}
	if reads.Directory {
		a.directory = &directory
	}
	a.cost = int64(len(data) + len(key))
	for _, k := range a.reads {
		a.cost += int64(len(k))
	}
	if a.cost > r.max {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range scopes {
		if r.dropped[s] > begun {
			return false
		}
	}
	if el, ok := r.entries[key]; ok {
		r.remove(el)
	}
	r.entries[key] = r.lru.PushFront(a)
	r.bytes += a.cost
	for _, k := range a.reads {
		if r.byRead[k] == nil {
			r.byRead[k] = map[string]struct{}{}
		}
		r.byRead[k][key] = struct{}{}
	}
	for r.bytes > r.max {
		r.remove(r.lru.Back())
		r.evictions.Add(1)
	}
	r.stored.Add(1)
	return true
}

// invalidate drops the answers that read any of ids of a system's kind, or
// a list of it.
func (r *Responses) invalidate(system model.System, kind Kind, ids []string) {
	scope := scopeOf(system, kind)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	r.dropped[scope] = r.seq
	for _, id := range append(ids, anyID) {
		for key := range r.byRead[scope+id] {
			if el, ok := r.entries[key]; ok {
				r.remove(el)
			}
		}
	}
}

// remove drops an answer and its reads from the index; r.mu is held.
func (r *Responses) remove(el *list.Element) {
	a := r.lru.Remove(el).(*answer)
	delete(r.entries, a.key)
	r.bytes -= a.cost
	for _, k := range a.reads {
		if keys := r.byRead[k]; keys != nil {
			delete(keys, a.key)
			if len(keys) == 0 {
				delete(r.byRead, k)
			}
		}
	}
}

// ResponseCounts are the response cache's counters since start.
type ResponseCounts struct {
	Hits, Misses, Evictions, Stored int64
	Entries                         int
	Bytes                           int64
}

// Stats returns the counters.
func (r *Responses) Stats() ResponseCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ResponseCounts{Hits: r.hits.Load(), Misses: r.misses.Load(), Evictions: r.evictions.Load(), Stored: r.stored.Load(),
		Entries: len(r.entries), Bytes: r.bytes}
}
