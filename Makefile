# gossipchain — build, container image, docker-compose cluster, end-to-end
# tests and the LAN demo. The everyday commands are plain Go (go run, go
# test); these targets are for the binary you ship and the cluster.
#
#   make build        static binary bin/gossipchain (CGO off, trimmed, stripped)
#   make image        build + docker image $(IMAGE) (FROM scratch)
#   make cluster-up   image + four-node cluster (docker-compose.yml), APIs on 127.0.0.1:5001..5004
#   make cluster-down stop the cluster and delete its volumes
#   make e2e          end-to-end tests against containers and namespaces (needs docker; root for the LAN part)
#   make lan-demo     build + demo/lan.sh (root: network namespaces)
#   make chaos        TestChaos for DURATION (default 30m; root): faults, then the checker (docs/RELIABILITY.md)

GO       ?= go
IMAGE    ?= gossipchain:local
COMPOSE  ?= scripts/compose.sh
BIN      := bin/gossipchain
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DURATION  ?= 30m
CHAOS_OUT ?= $(CURDIR)/chaos-out

.PHONY: build image cluster-ports cluster-up cluster-down e2e lan-demo chaos

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gossipchain
	@mkdir -p bin/empty

image: build
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

# The four nodes by name: the scalable service "peer" starts only when asked
# (--scale peer=N). The ports are checked first, so a taken one starts nothing.
cluster-up: cluster-ports image
	GOSSIPCHAIN_IMAGE=$(IMAGE) $(COMPOSE) up -d --no-build node1 node2 node3 node4
	@GOSSIPCHAIN_IMAGE=$(IMAGE) $(COMPOSE) ps
	@echo "HTTP APIs: http://127.0.0.1:5001 (node1) .. http://127.0.0.1:5004 (node4); try: curl -s 127.0.0.1:5001/status"

# Before anything is built or started: a taken host port names its variable.
cluster-ports:
	scripts/cluster-ports.sh

cluster-down:
	GOSSIPCHAIN_IMAGE=$(IMAGE) $(COMPOSE) down -v --remove-orphans

e2e:
	$(GO) test -count=1 -v -timeout 15m ./e2e/

lan-demo: build
	$(SUDO) env GOSSIPCHAIN_BIN=$(CURDIR)/$(BIN) demo/lan.sh

chaos:
	$(SUDO) env CI=true $(GO) test -count=1 -v -timeout 0 ./e2e/ -run '^TestChaos$$' -chaos.duration=$(DURATION) -chaos.out=$(CHAOS_OUT)
