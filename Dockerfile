# A slim image of the command line: build with the Rust toolchain, run on Debian slim with the CA
# certificates rustls reads through the system's store.
#   docker build -t intercom-dump .
#   docker run --rm -e INTERCOM_TOKEN -v "$PWD/lake:/lake" intercom-dump dump --out /lake --mode auto
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin intercom-dump

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/intercom-dump /usr/local/bin/intercom-dump
USER 65534:65534
ENTRYPOINT ["intercom-dump"]
CMD ["--help"]
