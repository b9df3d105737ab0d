# dr: MySQL/MariaDB disaster recovery as small Unix commands. See README.md.

GO      ?= go
PREFIX  ?= /usr/local
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/dr-mysql/dr/lib/cli.Version=$(VERSION)
CMDS    := $(notdir $(wildcard cmd/dr-*))
FUZZTIME ?= 20s

.PHONY: all build deps test vet fuzz install bench drill clean

all: build

## build: the commands, into bin/
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

## deps: the Debian packages and Go tools (MinIO) the tests, the drill and the benchmarks use
deps:
	scripts/deps

vet:
	$(GO) vet ./...

## test: unit tests, fuzz seeds and the testscript scenarios on real servers
test: deps vet
	$(GO) test -count=1 -timeout 14m ./...

## fuzz: each fuzz target for FUZZTIME
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

## install: binaries and man pages under PREFIX
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(addprefix bin/,$(CMDS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/

## bench: dr against the tools a DBA would use instead, side by side
bench: deps build
	scripts/bench

## drill: the disaster drill on sandbox servers
drill: deps build
	scripts/drill

clean:
	rm -rf bin
