# Multi-stage build: compile in the Rust image, run from a slim Debian with only the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p sluice && strip target/release/sluice

FROM debian:bookworm-slim
COPY --from=build /src/target/release/sluice /usr/local/bin/sluice
# Two listeners: HOST (9092, advertised as localhost:9092) and DOCKER (29092, advertised as sluice:29092); see the file.
COPY config/docker.yaml /etc/sluice/sluice.yaml
VOLUME /var/lib/sluice
EXPOSE 9092 29092
ENTRYPOINT ["sluice", "--config", "/etc/sluice/sluice.yaml"]
