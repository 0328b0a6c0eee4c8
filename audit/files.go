package audit

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// file is what a log needs of an open file. *os.File implements it; tests wrap
// it to inject faults.
type file interface {
	io.Writer
	io.ReaderAt
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

// openHook, when set by a test, wraps every file a log opens for writing.
var openHook func(name string, f file) file

// logFiles are the files of a log being written.
type logFiles struct {
	path   string
	perm   os.FileMode
	log    file
	hashes file
}

func openFiles(path string, perm os.FileMode) (*logFiles, error) {
	fs := &logFiles{path: path, perm: perm}
	var err error
	if fs.log, err = fs.open(path); err != nil {
		return nil, err
	}
	if fs.hashes, err = fs.open(path + ".hashes"); err != nil {
		fs.log.Close()
		return nil, err
	}
	return fs, nil
}

func (fs *logFiles) open(name string) (file, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, fs.perm)
	if err != nil {
		return nil, fmt.Errorf("audit: open log: %w", err)
	}
	if openHook != nil {
		return openHook(name, f), nil
	}
	return f, nil
}

// write appends a batch: the records, then their hashes. A crash between the
// two leaves the hashes behind, which opening the log repairs.
func (fs *logFiles) write(log, hashes []byte) error {
	if _, err := fs.log.Write(log); err != nil {
		return fmt.Errorf("audit: write log: %w", err)
	}
	if _, err := fs.hashes.Write(hashes); err != nil {
		return fmt.Errorf("audit: write hashes: %w", err)
	}
	return nil
}

func (fs *logFiles) sync() error {
	if err := fs.log.Sync(); err != nil {
		return fmt.Errorf("audit: sync log: %w", err)
	}
	return nil
}

func (fs *logFiles) syncAll() error {
	if err := fs.sync(); err != nil {
		return err
	}
	if err := fs.hashes.Sync(); err != nil {
		return fmt.Errorf("audit: sync hashes: %w", err)
	}
	return nil
}

func (fs *logFiles) truncate(logOff, hashOff int64) error {
	if err := fs.log.Truncate(logOff); err != nil {
		return fmt.Errorf("audit: cut log back: %w", err)
	}
	if err := fs.hashes.Truncate(hashOff); err != nil {
		return fmt.Errorf("audit: cut hashes back: %w", err)
	}
	return nil
}

// writeCheckpoint replaces PATH.checkpoint atomically and durably.
func (fs *logFiles) writeCheckpoint(signed []byte) error {
	name := fs.path + ".checkpoint"
	tmp, err := fs.open(name + ".tmp")
	if err == nil {
		err = tmp.Truncate(0)
	}
	if err != nil {
		return err
	}
	_, err = tmp.Write(signed)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name+".tmp", name)
	}
	if err == nil {
		err = syncDir(filepath.Dir(name))
	}
	if err != nil {
		return fmt.Errorf("audit: write checkpoint: %w", err)
	}
	return nil
}

// rotate renames the active file to the segment that starts at first and
// opens a new, empty active file.
func (fs *logFiles) rotate(first uint64) error {
	if err := fs.log.Close(); err != nil {
		return fmt.Errorf("audit: rotate: %w", err)
	}
	seg := segmentName(fs.path, first)
	err := os.Rename(fs.path, seg)
	if err == nil {
		err = syncDir(filepath.Dir(fs.path))
	} else {
		seg = fs.path // nothing moved: reopen the active file as it was
	}
	f, oerr := fs.open(fs.path)
	if oerr != nil && seg != fs.path {
		_ = os.Rename(seg, fs.path)
		f, oerr = fs.open(fs.path)
	}
	if oerr != nil {
		return fmt.Errorf("audit: rotate: %w", oerr)
	}
	fs.log = f
	if err != nil {
		return fmt.Errorf("audit: rotate: %w", err)
	}
	return nil
}

func (fs *logFiles) close() error {
	err1, err2 := fs.log.Close(), fs.hashes.Close()
	if err1 != nil {
		return err1
	}
	return err2
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// segmentName is the name of the rotated segment of the log at path whose
// first record is first: audit.jsonl → audit.000000000001.jsonl.
func segmentName(path string, first uint64) string {
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s.%012d%s", strings.TrimSuffix(path, ext), first, ext)
}

// segment is one file of a log, in order.
type segment struct {
	path  string
	first uint64 // 0 for the active file, whose first seq is in its records
}

// segments lists the rotated segments of the log at path in order, then the
// active file.
func segments(path string) ([]segment, error) {
	ext := filepath.Ext(path)
	stem := strings.TrimSuffix(path, ext)
	names, err := filepath.Glob(globEscape(stem) + ".*" + globEscape(ext))
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, n := range names {
		mid := strings.TrimSuffix(strings.TrimPrefix(n, stem+"."), ext)
		first, err := strconv.ParseUint(mid, 10, 64)
		if err != nil || len(mid) < 12 || first == 0 || segmentName(path, first) != n {
			continue
		}
		segs = append(segs, segment{path: n, first: first})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	return append(segs, segment{path: path}), nil
}

func globEscape(s string) string {
	return strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`).Replace(s)
}
