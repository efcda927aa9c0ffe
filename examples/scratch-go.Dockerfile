# A Go service in a `scratch` image: no shell, no curl, no migration runtime. usher is the
# entrypoint, the migration runner and the health probe. TLS to the database works without
# /etc/ssl: usher carries the Mozilla roots (use sslrootcert=/path for a private CA).
FROM golang:1.23 AS app
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -o /server ./cmd/server

# usher's source as a named build context:
#   docker build --build-context usher-src=path/to/usher -f scratch-go.Dockerfile .
FROM rust:1-bookworm AS usher
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY --from=usher-src Cargo.toml Cargo.lock ./
COPY --from=usher-src src/ src/
# PostgreSQL only: a smaller binary.
RUN cargo build --release --locked --target x86_64-unknown-linux-musl \
      --no-default-features --features postgres \
 && cp target/x86_64-unknown-linux-musl/release/usher /usher

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
