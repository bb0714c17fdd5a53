package remotewrite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/prometheus/tsdb/fileutil"
	"github.com/prometheus/prometheus/tsdb/wlog"
	"github.com/prometheus/prometheus/util/compression"

	"github.com/pushagent/pushagent/agent/config"
)

// pageSize is wlog's page: records are checksummed fragments within
// pages, so a reader can start afresh at any page boundary.
const pageSize = 32 * 1024

// buffer is the on-disk queue: a Prometheus write-ahead log (the one its
// agent mode keeps samples in) of encoded requests, and a position file
// saying how far the receiver has accepted them. It is not safe for
// concurrent use; Queue serializes calls.
type buffer struct {
	dir     string
	lock    fileutil.Releaser // nil where the file system has no locks
	wal     *wlog.WL
	maxSize int64
	log     *slog.Logger
	pos     position // end of the last record delivered
	cur     *cursor  // the sender's reader; nil until the first next
}

// position is where a record ends: its segment and the byte offset after
// it. The records after a position are those that end beyond it.
type position struct {
	seg    int
	offset int64
}

// record is one request as buffered: a header (its wire format, samples,
// oldest timestamp) and the body, encoded and compressed, ready to send.
//
// Layout: a remote write 1.0 record is uvarint(samples) varint(oldest)
// body, the layout of every record before other formats existed, so a
// buffer left by an older agent is read as it is (and an older agent can
// read the 1.0 records of a newer one). Any other format starts with a
// zero byte, which never starts a 1.0 record (samples > 0, and a uvarint
// whose first byte is zero is 0), then the format byte, then the same
// header and body.
type record struct {
	format  Format
	samples int
	oldest  int64 // ms
	body    []byte
}

func (r record) marshal() []byte {
	b := make([]byte, 0, len(r.body)+2+2*binary.MaxVarintLen64)
	if r.format != FormatRemoteWrite1 {
		b = append(b, 0, byte(r.format))
	}
	b = binary.AppendUvarint(b, uint64(r.samples))
	b = binary.AppendVarint(b, r.oldest)
	return append(b, r.body...)
}

var errBadRecord = errors.New("remotewrite: buffer record header is corrupt")

func unmarshalRecord(b []byte) (record, error) {
	format := FormatRemoteWrite1
	if len(b) >= 2 && b[0] == 0 {
		format = Format(b[1])
		if !format.valid() || format == FormatRemoteWrite1 {
			return record{}, errBadRecord
		}
		b = b[2:]
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > 1<<40 {
		return record{}, errBadRecord
	}
	b = b[k:]
	ts, k := binary.Varint(b)
	if k <= 0 {
		return record{}, errBadRecord
	}
	return record{format: format, samples: int(n), oldest: ts, body: b[k:]}, nil
}

// segmentSize keeps at least 8 segments within maxSize, so that dropping
// the oldest one (the unit of truncation) drops an eighth, not all.
func segmentSize(maxSize int64) int {
	s := maxSize / 8 / pageSize * pageSize
	return int(min(max(s, 4*pageSize), wlog.DefaultSegmentSize))
}

// ErrBufferInUse is the error of opening a buffer directory that another
// queue holds: another agent's, or another output's of this one.
var ErrBufferInUse = errors.New("remotewrite: buffer directory in use")

func openBuffer(dir string, maxSize int64, log *slog.Logger) (*buffer, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("buffer directory: %w", err)
	}
	lock, err := lockDir(dir, log)
	if err != nil {
		return nil, err
	}
	// The log opens a new segment after the existing ones, so a torn write
	// left by a crash stays at the end of a segment nothing appends to.
	wal, err := wlog.NewSize(log, nil, dir, segmentSize(maxSize), compression.None)
	if err != nil {
		releaseLock(lock)
		return nil, fmt.Errorf("buffer %s: %w", dir, err)
	}
	b := &buffer{dir: dir, lock: lock, wal: wal, maxSize: maxSize, log: log}
	b.pos = b.loadPosition()
	first, _, err := wlog.Segments(dir)
	if err != nil {
		_ = wal.Close()
		releaseLock(lock)
		return nil, err
	}
	if b.pos.seg < first {
		b.pos = position{seg: first}
	}
	return b, nil
}

// lockDir takes the buffer directory for this queue alone, before
// anything in it is read or written: two senders on one directory would
// each read the other's live segment as complete and delete it once
// "delivered", losing one agent's data and sending the other's twice.
//
// The lock is flock(2) on a file in the directory, as Prometheus locks
// its data directory (tsdb/fileutil). The kernel releases it when the
// process ends however it ends, kill -9 and OOM kills included, so a lock
// file left behind never blocks the next start: the file's existence
// means nothing, only the lock on it does. flock is per open file, so a
// second queue of this same process on the directory (through a link,
// say) is refused as well. Containers on one host share the kernel's
// locks, so replicas sharing a named volume are caught; NFS emulates flock
// with its own locks. A file system without locks (some FUSE ones) is
// logged and used unlocked, as before locks existed.
func lockDir(dir string, log *slog.Logger) (fileutil.Releaser, error) {
	path := filepath.Join(dir, config.BufferLockFile)
	lock, _, err := fileutil.Flock(path)
	switch {
	case err == nil:
		return lock, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return nil, fmt.Errorf("%w: %s is locked by another pushagent (or by another output of this one, through a link): "+
			"two agents on one buffer lose data; give each agent its own directory: a volume per replica, "+
			"or a directory named for the host, like dir: /var/lib/pushagent/${HOSTNAME}/<output> "+
			"(a replaced container gets a new hostname: its old directory's data is then not sent)", ErrBufferInUse, dir)
	case errors.Is(err, syscall.ENOLCK), errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.ENOSYS):
		log.Warn("remote_write buffer: the file system does not support locks; make sure no other agent uses this directory", "dir", dir, "err", err)
		return nil, nil
	}
	return nil, fmt.Errorf("locking %s: %w", path, err)
}

func releaseLock(l fileutil.Releaser) {
	if l != nil {
		_ = l.Release()
	}
}

func (b *buffer) positionFile() string { return filepath.Join(b.dir, "delivered") }

func (b *buffer) loadPosition() position {
	data, err := os.ReadFile(b.positionFile())
	if err != nil {
		return position{}
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		b.log.Warn("buffer position file is corrupt; sending the buffer from its start", "file", b.positionFile())
		return position{}
	}
	seg, err1 := strconv.Atoi(f[0])
	off, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || seg < 0 || off < 0 {
		b.log.Warn("buffer position file is corrupt; sending the buffer from its start", "file", b.positionFile())
		return position{}
	}
	return position{seg: seg, offset: off}
}

// savePosition writes the position by rename, so a crash leaves the old
// or the new one, never half of one. A crash between a send and this
// write sends that request again: the crash window is one request.
func (b *buffer) savePosition() error {
	tmp := b.positionFile() + ".tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", b.pos.seg, b.pos.offset), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, b.positionFile())
}

// append writes a record. wlog writes it to the file (not only to its
// page buffer) before returning, so a kill -9 right after keeps it.
func (b *buffer) append(r record) error {
	return b.wal.Log(r.marshal())
}

// cursor reads one segment as it grows: wlog's LiveReader (the reader of
// Prometheus' remote-write WAL watcher), which returns records as soon as
// they are whole and can be tried again at the end of the data.
type cursor struct {
	seg  int
	base int64 // file offset of the reader's offset 0: a page boundary
	f    *os.File
	r    *wlog.LiveReader
	// partial says the reader's first record is the tail of one whose
	// start was skipped, to be discarded (see open).
	partial bool
}

func (c *cursor) close() {
	if c != nil {
		_ = c.f.Close()
	}
}

var liveReaderMetrics = wlog.NewLiveReaderMetrics(nil)

// Fragment types of wlog's record framing (tsdb/docs/format/wal.md), the
// two that continue a record begun on an earlier page.
const (
	recTypeMask = 7
	recMiddle   = 3
	recLast     = 4
)

// resyncPage is a page holding only the empty first fragment of a record
// (type 2, length 0, CRC-32C of nothing 0) and padding. Put before a page
// that starts with the rest of a record whose start was skipped, it lets
// wlog's reader take that rest as the end of a record, which is then
// discarded, and read the records after it; without it the reader refuses
// the page, and a skip past corrupt data would lose every page after, since
// records are split across pages.
var resyncPage = append([]byte{2, 0, 0, 0, 0, 0, 0}, make([]byte, pageSize-7)...)

func (b *buffer) open(seg int, base int64) (*cursor, error) {
	f, err := os.Open(wlog.SegmentName(b.dir, seg))
	if err != nil {
		return nil, err
	}
	c := &cursor{seg: seg, base: base, f: f}
	var first [1]byte
	if base > 0 {
		if n, _ := f.ReadAt(first[:], base); n == 1 {
			t := first[0] & recTypeMask
			c.partial = t == recMiddle || t == recLast
		}
	}
	var rd io.Reader = io.NewSectionReader(f, base, 1<<62)
	if c.partial {
		rd = &prefixed{prefix: resyncPage, r: rd}
		c.base -= pageSize
	}
	c.r = wlog.NewLiveReader(b.log, liveReaderMetrics, rd)
	return c, nil
}

// prefixed reads prefix, then r. Unlike io.MultiReader it does not stay
// at EOF once r reached it: the segment may grow.
type prefixed struct {
	prefix []byte
	r      io.Reader
}

func (p *prefixed) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// nextRecord is the cursor's next whole record, skipping the partial one.
func (c *cursor) nextRecord() bool {
	for c.r.Next() {
		if c.partial {
			c.partial = false
			continue
		}
		return true
	}
	return false
}

// next reads the record after the position. It returns ok false when
// there is none yet. Corrupt data (a torn write, a flipped bit) is
// skipped to the next page, and reported through a *CorruptError.
func (b *buffer) next() (r record, end position, ok bool, err error) {
	for {
		_, last, err := wlog.Segments(b.dir)
		if err != nil {
			return record{}, b.pos, false, err
		}
		if b.cur == nil || b.cur.seg != b.pos.seg {
			b.cur.close()
			b.cur = nil
			c, err := b.open(b.pos.seg, 0)
			if errors.Is(err, fs.ErrNotExist) && b.pos.seg < last {
				b.pos = position{seg: b.pos.seg + 1}
				continue
			}
			if err != nil {
				return record{}, b.pos, false, err
			}
			b.cur = c
		}
		c := b.cur
		for c.nextRecord() {
			at := c.base + c.r.Offset()
			if at <= b.pos.offset {
				continue // delivered before a restart
			}
			r, err := unmarshalRecord(c.r.Record())
			if err != nil {
				return record{}, b.pos, false, b.skip(at, err)
			}
			r.body = append([]byte(nil), r.body...)
			return r, position{seg: c.seg, offset: at}, true, nil
		}
		if err := c.r.Err(); err != nil && !errors.Is(err, io.EOF) {
			return record{}, b.pos, false, b.skip(c.base+c.r.Offset(), err)
		}
		if b.pos.seg >= last {
			return record{}, b.pos, false, nil // the segment being written
		}
		// The segment was complete before it was read (a later one
		// existed), so what is left unread of it is a torn write.
		consumed := c.base + c.r.Offset()
		torn := tornTail(c.f, consumed)
		b.pos = position{seg: b.pos.seg + 1}
		if torn {
			return record{}, b.pos, false, &CorruptError{Segment: c.seg, offset: consumed, err: errors.New("the last record is torn (a write cut short)")}
		}
	}
}

// skip moves the position past the page holding the corrupt data at
// offset at: the next page starts afresh, so records there are readable.
func (b *buffer) skip(at int64, cause error) error {
	seg := b.pos.seg
	page := (max(at, b.pos.offset)/pageSize + 1) * pageSize
	b.log.Error("remote_write buffer: corrupt data skipped to the next page", "segment", seg, "offset", at, "err", cause)
	b.cur.close()
	b.cur = nil
	b.pos = position{seg: seg, offset: page}
	if c, err := b.open(seg, page); err == nil {
		b.cur = c
	}
	return &CorruptError{Segment: seg, offset: at, err: cause}
}

// tornTail reports whether the file has data other than page padding
// (zeros) after offset.
func tornTail(f *os.File, offset int64) bool {
	buf := make([]byte, pageSize)
	for {
		n, err := f.ReadAt(buf, offset)
		for _, c := range buf[:n] {
			if c != 0 {
				return true
			}
		}
		if err != nil || n == 0 {
			return false
		}
		offset += int64(n)
	}
}

// CorruptError is data in the buffer that failed its checksum or framing.
type CorruptError struct {
	Segment int
	offset  int64
	err     error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("remotewrite: buffer segment %d corrupt at byte %d: %v", e.Segment, e.offset, e.err)
}

// trim drops whole segments, oldest first, while the buffer exceeds its
// size, and segments already delivered. It returns the samples dropped
// unsent.
func (b *buffer) trim() (dropped int, err error) {
	first, last, err := wlog.Segments(b.dir)
	if err != nil || first < 0 {
		return 0, err
	}
	if b.pos.seg > first {
		if err := b.wal.Truncate(b.pos.seg); err != nil {
			return 0, err
		}
		first = b.pos.seg
	}
	for {
		size, err := b.wal.Size()
		if err != nil || size <= b.maxSize {
			return dropped, err
		}
		if first == last {
			// Everything is in the segment being written: close it, so
			// that it can go.
			if last, err = b.wal.NextSegmentSync(); err != nil {
				return dropped, err
			}
		}
		dropped += b.count(first)
		if err := b.wal.Truncate(first + 1); err != nil {
			return dropped, err
		}
		first++
		if b.pos.seg < first {
			b.pos = position{seg: first}
		}
	}
}

// count is the samples of the unsent records of segment seg, read with a
// reader of its own (corrupt pages skipped, as the sender would).
func (b *buffer) count(seg int) int {
	from := int64(0)
	switch {
	case b.pos.seg == seg:
		from = b.pos.offset
	case b.pos.seg > seg:
		return 0
	}
	n := 0
	base := int64(0)
	for {
		c, err := b.open(seg, base)
		if err != nil {
			return n
		}
		for c.nextRecord() {
			at := c.base + c.r.Offset()
			if at <= from {
				continue
			}
			if r, err := unmarshalRecord(c.r.Record()); err == nil {
				n += r.samples
			}
		}
		err = c.r.Err()
		next := (c.base+c.r.Offset())/pageSize*pageSize + pageSize
		c.close()
		if err == nil || errors.Is(err, io.EOF) {
			return n
		}
		base = next
	}
}

// bytes is the size of what is not sent yet, roughly: the segments from
// the position on, less what precedes it in its segment.
func (b *buffer) bytes() int64 {
	first, last, err := wlog.Segments(b.dir)
	if err != nil || first < 0 {
		return 0
	}
	var n int64
	for s := max(first, b.pos.seg); s <= last; s++ {
		if fi, err := os.Stat(wlog.SegmentName(b.dir, s)); err == nil {
			n += fi.Size()
		}
	}
	return max(0, n-b.pos.offset)
}

func (b *buffer) close() error {
	b.cur.close()
	b.cur = nil
	err := b.wal.Close()
	// After the log is closed: a new owner must find nothing half-written.
	releaseLock(b.lock)
	b.lock = nil
	return err
}
