# Build: docker build -t proxy .
# Run:   docker run -e PROXY_CONFIG_FILE=http://host/app/main.js -p 8080:8080 proxy
#        (or mount a codebase: -v $PWD/app:/app -e PROXY_CONFIG_FILE=/app/main.js)

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
# QuickJS with the interrupt-flag patch (vendor/rquickjs-sys/README.md).
COPY vendor vendor
# The workspace names the e2e tests' folder; the binary does not need it.
COPY tests tests
RUN cargo build --release --locked -p proxy && strip target/release/proxy

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin proxy
COPY --from=build /src/target/release/proxy /usr/local/bin/proxy
COPY docker/entrypoint.sh /usr/local/bin/proxy-entrypoint
USER proxy
ENTRYPOINT ["/usr/local/bin/proxy-entrypoint"]
