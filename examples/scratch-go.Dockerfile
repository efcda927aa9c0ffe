# A Go service in a `scratch` image: no shell, no curl, no migration runtime. usher is the
# entrypoint, the migration runner and the health probe. TLS to the database works without
# /etc/ssl: usher carries the Mozilla roots (use sslrootcert=/path for a private CA).
#
# Build from your Go module's root, with usher's image built once from usher's checkout:
#   docker build -f Dockerfile.example --target usher -t usher .     (in usher's checkout)
#   docker build -f scratch-go.Dockerfile -t my-go-app .
# For a smaller usher, build that stage with `--no-default-features --features postgres`.
#
# Not built by the test suite: it needs a Go toolchain image and a Go program, neither of which
# the registry-less test machine has; tests/dockerfiles.rs checks it statically (usher's
# options and variables exist, no BuildKit-only syntax).
ARG GO_IMAGE=golang:1.23
ARG USHER_IMAGE=usher

FROM ${GO_IMAGE} AS app
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -o /server ./cmd/server

FROM ${USHER_IMAGE} AS usher

FROM scratch
COPY --from=usher /usher /usher
COPY --from=app /server /server
COPY migrations/ /migrations/
# scratch has no /etc/passwd: give numeric ids. musl cannot resolve `localhost` without
# /etc/hosts in a bare chroot; Docker and Kubernetes always provide one.
ENV USHER_USER=10001:10001 USHER_MIGRATIONS=/migrations
HEALTHCHECK CMD ["/usher", "health", "tcp://127.0.0.1:8080"]
ENTRYPOINT ["/usher", "--"]
CMD ["/server"]
