// Package repo is the DR repository: where dr-ship stores snapshot
// streams, binlog files and directory trees as deduplicated, compressed,
// verified chunks, on a directory, over ssh or in S3.
//
// This file documents the layout and the plan; the code is in
// subpackages, from the bottom up:
//
//	ids        ID: the BLAKE3-256 that names every chunk, pack, index file
//	chunker    FastCDC content-defined chunking (512 KiB / ~1 MiB / 8 MiB)
//	pack       packs: blobs, zstd or raw, with a self-describing header
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
// # Index (to build next)
//
// The index maps a chunk id to (pack, offset, length, raw length,
// compression) and must answer without being loaded whole: a terabyte of
// snapshots is about a million chunks.
//
// Index files are immutable and sorted. Each put writes one or more new
// index files after its packs are saved and before its manifest; nothing
// ever rewrites an index file, so two puts at once never conflict (a
// chunk both stored is in two packs and two index files: harmless, prune
// drops the spare). Proposed format, little-endian, version 1:
//
//	fanout   2^F × uint32   fanout[i] = number of records whose id's first
//	                        F bits are <= i (git's .idx trick); F is 8 for
//	                        files under 65536 records, else 16
//	records  N × 52 bytes   sorted by id: id [32] | pack number uint32
//	                        (into the pack table) | offset uint32 | length
//	                        uint32 | raw length uint32 | type uint8 |
//	                        compression uint8 | reserved [2]
//	packs    P × 40 bytes   pack id [32] | pack size uint64
//	trailer  fixed size     N, P, F, format version, magic "DRIX",
//	                        BLAKE3 of everything before it
//
// (Offsets fit uint32: pack.Writer never builds a pack past
// pack.MaxPackSize, 4 GiB - 1.)
//
// A lookup of id in one index file costs the file's fanout table, read
// once (1 KiB or 256 KiB) and kept, plus one range load of the records
// between fanout[prefix-1] and fanout[prefix]: about N/2^F records, under
// a kilobyte with F=16, then a binary search in memory. Memory per open
// index file is its fanout table; never its records. The trailer is read
// first (as for packs); `dr-ship check` reads whole index files and checks
// the BLAKE3.
//
// Keeping the number of index files small keeps lookups cheap: prune (and
// put, when there are more than a few dozen) merges index files into one
// by a streaming k-way merge of sorted files, writing the new file before
// removing the old ones. Memory stays one read buffer per input.
//
// For dedup during a put, batch the lookups: take the ids of a few hundred
// chunks, sort them, and read each touched bucket once. Chunks added by
// the running put are kept in memory until the put flushes an index file
// (say every 1000 packs, ~16 GiB), so that set is bounded too. For ssh and
// S3, index files may be cached in a local directory: they are immutable
// and named by their hash, so a cached copy never goes stale and is
// checked against its name when fetched.
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
