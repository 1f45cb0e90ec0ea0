# Multi-stage build: compile in the Rust image, run from a slim Debian with only the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p sluice && strip target/release/sluice

FROM debian:bookworm-slim
COPY --from=build /src/target/release/sluice /usr/local/bin/sluice
COPY config/sluice.yaml /etc/sluice/sluice.yaml
VOLUME /var/lib/sluice
EXPOSE 9092
ENTRYPOINT ["sluice", "--config", "/etc/sluice/sluice.yaml", "--data-dir", "/var/lib/sluice"]
# Clients on the host reach the published port as localhost:9092, so that is what we advertise.
CMD ["--listen", "0.0.0.0:9092", "--advertise", "localhost:9092"]
