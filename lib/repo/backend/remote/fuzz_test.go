package remote

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/backend/mem"
)

// FuzzServe feeds arbitrary bytes to Serve: it must return, without a
// panic, whatever the bytes; frames are bounded by MaxPayload before
// anything is allocated.
func FuzzServe(f *testing.F) {
	snap := backend.Handle{Type: backend.Snapshot, Name: "s1"}
	f.Add([]byte{})
	f.Add(session())
	f.Add(session(
		rawFrame(opSave, 1, enc(nil).handle(snap).i64(3)), rawFrame(opData, 1, []byte("abc")), rawFrame(opEnd, 1, nil),
		rawFrame(opLoad, 2, enc(nil).handle(snap).i64(0).i64(0)),
		rawFrame(opStat, 3, enc(nil).handle(snap)),
		rawFrame(opList, 4, enc(nil).str8(string(backend.Snapshot))),
		rawFrame(opCancel, 4, nil),
		rawFrame(opRemove, 5, enc(nil).handle(snap)),
	))
	f.Add(session(rawFrame(opSave, 1, enc(nil).handle(snap).i64(10)), rawFrame(opData, 1, []byte("abc")), rawFrame(opAbort, 1, []byte("boom"))))
	f.Add(session(rawFrame(opLoad, 1, enc(nil).handle(snap).i64(-1).i64(1<<62))))
	f.Add(session(rawFrame(opSave, 1, enc(nil).handle(snap).i64(1<<40))))
	f.Fuzz(func(t *testing.T, in []byte) {
		done := make(chan error, 1)
		go func() {
			done <- Serve(context.Background(), mem.New(), bytes.NewReader(in), io.Discard)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Serve did not return on %d bytes of input", len(in))
		}
	})
}
