# Thin front door. Everything real lives in CMakeLists.txt.
BUILD      ?= build
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
LISTEN     ?= 127.0.0.1:8080
DATA       ?= ./var

ifdef HOSO_SANITIZE
BUILD := build-$(HOSO_SANITIZE)
CMAKE_ARGS += -DHOSO_SANITIZE=$(HOSO_SANITIZE)
endif

PREFIX     ?= /usr/local
DESTDIR    ?=

.PHONY: all deps build run test bench fuzz install clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/server/hosod serve --listen $(LISTEN) --data $(DATA) --create --demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300

bench:
	@HOSO_BENCH_DEPS=1 scripts/install-deps
	$(MAKE) build
	bench/run.sh $(BUILD)

# The binaries, the systemd unit and its user, the docs: see docs/operations.md.
install: build
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

fuzz:
	@scripts/install-deps
	cmake -S . -B build-fuzz -DHOSO_FUZZ=ON -DHOSO_SANITIZE=address -DCMAKE_C_COMPILER=clang
	cmake --build build-fuzz -j $(JOBS)
	cd build-fuzz && ctest -L fuzz --output-on-failure

clean:
	rm -rf build build-*
