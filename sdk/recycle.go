package sdk

import "unsafe"

// A reactor instance runs the same collector again and again, and in wasm
// what a run costs most, after the instructions it runs, is what it
// allocates: the garbage collector's work grows with it. So a finished run
// leaves its arenas and its output buffer to the next one. Only their
// memory is passed on, never their content: the label arenas are cleared,
// so that no string of one run outlives it, and the run's families give
// them up, so that a Collection kept by mistake cannot write into the
// next run's.

// arena is the memory of one family's series.
type arena struct {
	series, tmp   []series
	labels, names []string
	points        []point
}

// recycled holds what the last finished run left: the arena of its i-th
// family at index i, since a collector adds its families in the same order
// each run, and the output buffer.
var recycled struct {
	mutex
	arenas []arena
	out    []byte
}

// Bounds on what is kept: a run that was unusually large should not pin
// its memory for the rest of the instance's life.
const (
	maxRecycledArenas = 1024
	maxRecycledBytes  = 1 << 20 // per slice
)

// reuseArena gives a new family the arena its predecessor of the last run
// had, if there is one.
func (f *family) reuseArena() {
	recycled.Lock()
	if f.order < len(recycled.arenas) {
		a := &recycled.arenas[f.order]
		f.series, f.tmp, f.labels, f.names, f.points = a.series, a.tmp, a.labels, a.names, a.points
		*a = arena{}
	}
	recycled.Unlock()
}

// recycle passes the memory of a finished run to the next one. The
// collection keeps its families, emptied. A collection still locked (by
// a goroutine the CollectFunc left running, against the rules) keeps its
// memory instead: waiting for it could take forever.
func (c *Collection) recycle() {
	if !c.mu.TryLock() {
		return
	}
	defer c.mu.Unlock()
	recycled.Lock()
	defer recycled.Unlock()
	for _, f := range c.families {
		clear(f.labels) // let the garbage collector have the strings
		clear(f.names)
		a := arena{series: f.series[:0], tmp: f.tmp, labels: f.labels[:0], names: f.names[:0], points: f.points[:0]}
		f.series, f.tmp, f.labels, f.names, f.points = nil, nil, nil, nil, nil
		if f.order >= maxRecycledArenas || cap(a.series)*seriesSize > maxRecycledBytes ||
			cap(a.labels)*stringSize > maxRecycledBytes || cap(a.points)*pointSize > maxRecycledBytes {
			continue
		}
		if len(recycled.arenas) <= f.order {
			recycled.arenas = append(recycled.arenas, make([]arena, f.order+1-len(recycled.arenas))...)
		}
		if old := &recycled.arenas[f.order]; cap(old.series)+cap(old.labels) <= cap(a.series)+cap(a.labels) {
			*old = a
		}
	}
}

// takeOut returns the recycled output buffer, empty, or nil if another
// run has it.
func takeOut() []byte {
	recycled.Lock()
	b := recycled.out
	recycled.out = nil
	recycled.Unlock()
	return b[:0]
}

// giveOut keeps b for the next run.
func giveOut(b []byte) {
	if cap(b) > maxRecycledBytes {
		return
	}
	recycled.Lock()
	if cap(b) > cap(recycled.out) {
		recycled.out = b
	}
	recycled.Unlock()
}

// The sizes of the arenas' elements, for maxRecycledBytes.
const (
	seriesSize = int(unsafe.Sizeof(series{}))
	stringSize = int(unsafe.Sizeof(""))
	pointSize  = int(unsafe.Sizeof(point{}))
)
