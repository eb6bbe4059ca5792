# Release binaries: static (no cgo: the SQLite driver is pure Go) and
# reproducible: -trimpath drops local paths, -buildid= the build id, and the
# date "sessiond version" prints is the commit's, so two builds of one commit
# are the same bytes (TestRelease_TwoBuildsAreTheSameBytes).
#
#   make release                   # dist/sessiond-OS-ARCH for every platform, dist/SHA256SUMS
#   make release VERSION=v0.1.0    # the same, printing v0.1.0 as the version
#   make release PLATFORMS=linux/amd64 DIST=/tmp/out

DIST      ?= dist
VERSION   ?=
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
GO        ?= go
SHA256SUM ?= $(shell command -v sha256sum >/dev/null 2>&1 && echo sha256sum || echo 'shasum -a 256')

LDFLAGS  := -s -w -buildid=$(if $(VERSION), -X main.version=$(VERSION))
BINARIES := $(foreach p,$(PLATFORMS),$(DIST)/sessiond-$(subst /,-,$(p)))

.PHONY: release clean FORCE

release: $(DIST)/SHA256SUMS

$(DIST)/SHA256SUMS: $(BINARIES)
	cd $(DIST) && $(SHA256SUM) $(notdir $(BINARIES)) > SHA256SUMS

$(DIST)/sessiond-%: FORCE
	@mkdir -p $(DIST)
	CGO_ENABLED=0 GOOS=$(word 1,$(subst -, ,$*)) GOARCH=$(word 2,$(subst -, ,$*)) \
		$(GO) build -trimpath -buildvcs=auto -ldflags '$(LDFLAGS)' -o $@ ./cmd/sessiond

clean:
	rm -rf $(DIST)

FORCE:
