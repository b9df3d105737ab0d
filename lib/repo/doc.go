// Package repo is the DR repository: where dr-ship stores snapshot
// streams, binlog files and directory trees as deduplicated, compressed,
// verified chunks, on a directory, over ssh or in S3.
//
// This file documents the layout and the plan. Package repo itself is
// the Repository (Init, Open, PutStream, GetStream, List, Check); the
// rest is in subpackages, from the bottom up:
//
//	ids        ID: the BLAKE3-256 that names every chunk, pack, index file
//	chunker    FastCDC content-defined chunking (512 KiB / ~1 MiB / 8 MiB)
//	pack       packs: blobs, zstd or raw, with a self-describing header
//	index      sorted, immutable index files: chunk id -> pack and place
//	backend    the storage interface (Save, Load, Stat, List, Remove)
//	backend/local        a repository in a directory
//	backend/mem          in memory, for tests of the layers above
//	backend/backendtest  the suite every backend passes
//
// # Objects
//
// A backend stores immutable objects by type and name (backend.Handle).
// The file backend lays them out as:
//
//	<root>/config                 JSON: format version, repository id,
//	                              chunker Params (all puts must chunk alike,
//	                              or nothing deduplicates), pack target size
//	<root>/data/<2 hex>/<64 hex>  packs, named by the BLAKE3 of the whole
//	                              pack; 256 fan-out directories
//	<root>/index/<64 hex>         index files, named by their BLAKE3
//	<root>/snapshots/<64 hex>     snapshot manifests (JSON)
//	<root>/binlogs/<file name>    binlog manifests (JSON), named by the
//	                              binlog file so a second, different file
//	                              under the same name is refused by Save
//	<root>/trees/<64 hex>         tree manifests (dr-ship put --tree)
//	<root>/locks/<name>           locks (the only objects Save may replace)
//
// S3 uses the same names as keys under the prefix; the ssh backend speaks
// the Backend calls to `dr-ship serve`, which uses the file backend.
//
// # Packs
//
// A chunk (blob) is stored once, in a pack of about 16 MiB, compressed
// with zstd at its fastest level unless that saves less than 1/32. The
// pack ends with a header listing (id, offset, length, raw length, type,
// compression) for each blob and a 48-byte trailer (header length, count,
// format version, magic "DRPK", BLAKE3 of header and trailer); see
// package pack for the bytes. A pack can thus be checked, and the index
// rebuilt, from the packs alone. Reading one chunk is one range load of
// (offset, length) given by the index, then a check of its BLAKE3.
//
// # Index
//
// The index (package index) maps a chunk id to (pack, offset, length,
// raw length, type, compression) and answers without being loaded
// whole: a terabyte of snapshots is about a million chunks.
//
// Index files are immutable, sorted and named by their BLAKE3. Each put
// writes one new index file per 1000 packs (~16 GiB), after those packs
// are saved and before its manifest; nothing ever rewrites an index file,
// so two puts at once never conflict (a chunk both stored is in two
// packs and two index files: harmless, prune drops the spare). A file is
// a fan-out table (2^F × uint32, F = 8 or 16, git's .idx trick), a pack
// table (P × 40 bytes), the records sorted by id (N × 52 bytes) and an
// 80-byte trailer with a checksum of the fan-out and pack table (checked
// on open) and one of the whole file (checked by `dr-ship check`); see
// package index for the bytes.
//
// Opening an index file costs two small loads, the trailer then fan-out
// and pack table, which are kept: 1 KiB or 256 KiB plus 40 bytes a pack,
// never the records. A lookup costs one range load of the records of
// the id's bucket (about N/2^F records), then a binary search. A put
// looks up a batch of chunk ids at once: sorted, each file walked once,
// nearby buckets merged into one load. Chunks added by the running put
// are found in its index Writer until the file is saved.
//
// Prune rewrites only the index files that list a pack it removes (one
// file's entries in memory at a time). Still to build: merging index
// files (when there are more than a few dozen) by a streaming k-way
// merge, and a local cache of index files for ssh and S3 (immutable,
// named by their hash, so a cached copy never goes stale).
//
// # Streams and manifests
//
// Repository.PutStream cuts a stream with the repository's chunker
// Params (stored in the config, so that every put cuts alike), stores
// the chunks the index does not know, and saves a JSON manifest as a
// snapshot object named by its BLAKE3:
//
//	{"version":1,"time":"...","size":N,"blake3":"<hex>",
//	 "meta":{"k":"v"},"chunks":[{"id":"<hex>","size":n},...]}
//
// GetStream writes the stream back, checking each chunk against its id
// and the whole against "blake3".
//
// # Cuts at member boundaries
//
// FastCDC finds its cut points again about one chunk after a change, so
// every place where a member's neighbour differs costs a chunk or two.
// dr-snap dumps tables in parallel, so the order of its members varies
// from run to run although each member's bytes do not: cut by content
// alone, a 152 MiB snapshot with 1% of one table changed stored 17% of
// its bytes again with two threads, 2.6% with one. So a stream may say
// where it must be cut: when the reader given to PutStream or
// StoreStream is a chunker.Cutter, no chunk spans one of its cuts and
// the bytes after a cut are chunked as if they began a stream (Min,
// hash warm-up and all). The chunker asks the Cutter for the next cut
// among the bytes it has read, so nothing needs the whole stream in
// memory.
//
// dr-ship put wraps an uncompressed dr-snap stream in one
// (lib/ship memberCuts over snapfmt.SpanReader, which follows the tar
// headers as the bytes pass): it cuts where the content of each member
// of at least Min bytes begins and after its padding. A member's content
// is then chunked from its first byte and gives the same chunks wherever
// it lands; its last chunk ends with its own padding, and its headers
// (about 1.5 KiB: PAX record with its BLAKE3, ustar header) make a small
// chunk of their own after another such member, or end the chunk of the
// small members before it, which get no cuts: a run of schemas and small
// tables is cut by content, usually into one chunk, rather than into
// many tiny ones that would fill the index. There is no cut before the
// headers because the Cutter must know every cut among the bytes read,
// and whether headers begin a big member is known only once they are
// read whole. The same snapshot then costs 2.1% with one thread or two,
// and one with no change, reordered, 0.01%. A gzip stream has
// no visible members and --raw may not be tar: both are cut by content
// alone. The cuts are not recorded anywhere: GetStream and Check see
// chunks like any others.
//
// StoreStream and SaveSnapshot split PutStream in two, so that a caller
// (dr-ship put) saves the manifest only once it has seen the stream was
// whole. Binlog manifests are the same JSON, saved as binlog objects
// named by the file (SaveBinlog: the same content again is a no-op, a
// different one ErrConflict, never a replacement). Tree manifests
// (TreeManifest) list paths, types, modes, times, sizes, symlink targets
// and each file's chunks; an Uploader stores the files' chunks in shared
// packs. ParseTree refuses paths that could lead a restore outside its
// directory.
//
// # Locks and prune
//
// Puts hold a shared lock object, prune an exclusive one (lock.go): save
// ours, list the others, back off on a conflict. Locks are refreshed
// every LockRefresh and stale after LockStale, or at once when their
// process is gone from the same host. Prune (prune.go) removes the
// manifests its caller's policy chose, then every pack holding no chunk
// a remaining manifest needs (including packs no index lists), after
// saving index files without them; packs partly needed are kept whole
// (no repacking). A Repository that outlives a prune of another process
// reopens its index when an index file it holds is gone (syncIndex), so
// a put never dedups against a removed pack.
//
// # Order of writes
//
// Packs first, then the index files that list them, then the manifest,
// each Save atomic: a put that dies leaves packs no index lists (prune
// removes them) and never a manifest naming a chunk that is not stored.
// The check that an index entry really points at its chunk is the BLAKE3
// of the blob on every read, so a wrong entry is a loud error, never
// wrong data.
package repo
