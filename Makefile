# The two commands that matter on a fresh machine: `make demo` and `make test`.
CARGO ?= cargo

.PHONY: all build demo test bench lint fmt clean

all: build

build:
	$(CARGO) build --release --workspace

demo: build
	./target/release/orchestrator demo

test:
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

bench: build
	bash bench/run

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
