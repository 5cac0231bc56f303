# gossipchain node image, FROM scratch: the only file in it is the static
# binary (no shell, no libc, no package manager), running as a non-root user.
#
# No base image can be pulled (there is no Go toolchain image either), so the
# binary is built on the host first. One command does both:
#
#     make image            # = make build (bin/gossipchain, static) + docker build
#
# The build context is filtered by .dockerignore down to bin/gossipchain and
# the empty bin/empty/ directory that becomes /data.
FROM scratch

ARG VERSION=dev
LABEL org.opencontainers.image.title="gossipchain" \
      org.opencontainers.image.description="Proof-of-work blockchain node: libp2p gossip, mDNS discovery, HTTP JSON API" \
      org.opencontainers.image.version="${VERSION}"

COPY bin/gossipchain /gossipchain
# An empty directory owned by the runtime user: a named volume mounted on
# /data for the first time is initialised from it, so it inherits the owner
# and the non-root node can write its store and keys there.
COPY --chown=65532:65532 bin/empty/ /data/

# Every flag is also an environment variable GOSSIPCHAIN_<FLAG>; these are the
# container's defaults (docker-compose.yml and `docker run -e` override them).
ENV GOSSIPCHAIN_DATA_DIR=/data \
    GOSSIPCHAIN_HTTP=0.0.0.0:5000 \
    GOSSIPCHAIN_LOG_FORMAT=json

USER 65532:65532
WORKDIR /data

# libp2p: TCP and QUIC (UDP) on 4001; HTTP API on 5000.
EXPOSE 4001/tcp 4001/udp 5000/tcp

# The binary is its own health probe (there is no curl in a scratch image):
# it asks the local API for GET /health and exits 0 or 1.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/gossipchain", "health", "--http", "127.0.0.1:5000"]

ENTRYPOINT ["/gossipchain"]
