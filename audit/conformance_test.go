package audit_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/audit/audittest"
)

func TestConformanceMemory(t *testing.T) {
	t.Parallel()
	audittest.Run(t, audittest.Config{
		New: func(t *testing.T) (audit.Sink, func() []audit.Event) {
			m := new(audit.Memory)
			return m, m.Events
		},
	})
}

func TestConformanceFile(t *testing.T) {
	t.Parallel()
	for _, mode := range []audit.Durability{audit.GroupCommit, audit.SyncEach, audit.Buffered} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			audittest.Run(t, audittest.Config{
				New: func(t *testing.T) (audit.Sink, func() []audit.Event) {
					path := logPath(t)
					f, err := audit.OpenFile(path, audit.FileOptions{Durability: mode})
					if err != nil {
						t.Fatal(err)
					}
					return f, func() []audit.Event {
						if err := f.Close(); err != nil {
							t.Fatal(err)
						}
						return events(t, path)
					}
				},
				Failing: failingFile,
			})
		})
	}
}

// failingFile is a log whose disk is full.
func failingFile(t *testing.T) audit.Sink {
	path := logPath(t)
	audit.SetFaults(path, &audit.Fault{WriteErr: audit.ErrDiskFull})
	f, err := audit.OpenFile(path, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestConformanceAsync(t *testing.T) {
	t.Parallel()
	audittest.Run(t, audittest.Config{
		New: func(t *testing.T) (audit.Sink, func() []audit.Event) {
			m := new(audit.Memory)
			a := audit.NewAsync(m, audit.AsyncOptions{QueueSize: 64})
			return a, func() []audit.Event {
				if err := a.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				return m.Events()
			}
		},
		Failing: func(t *testing.T) audit.Sink {
			a := audit.NewAsync(new(audit.Memory), audit.AsyncOptions{})
			a.Close(context.Background())
			return a
		},
	})
}

func TestConformanceAsyncFile(t *testing.T) {
	t.Parallel()
	audittest.Run(t, audittest.Config{
		New: func(t *testing.T) (audit.Sink, func() []audit.Event) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			f, err := audit.OpenFile(path, audit.FileOptions{Durability: audit.Buffered})
			if err != nil {
				t.Fatal(err)
			}
			a := audit.NewAsync(f, audit.AsyncOptions{})
			return a, func() []audit.Event {
				if err := errors.Join(a.Close(context.Background()), f.Close()); err != nil {
					t.Fatal(err)
				}
				return events(t, path)
			}
		},
	})
}
