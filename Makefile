# stargap: the two set-up commands are `make run` and `make test` (see README.md).
# This Makefile wraps CMake; `deps` installs the Debian packages the build and tests need.
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DSTARGAP_WERROR=ON
endif

DEB_PACKAGES = build-essential cmake pkg-config libssl-dev libjansson-dev libsqlite3-dev sqlite3 \
               libpq-dev postgresql postgresql-contrib libmicrohttpd-dev libcmocka-dev \
               libcurl4-openssl-dev wrk valgrind

.PHONY: all deps build run test asan bench clean format

all: build

# Installs the Debian packages that are missing (apt-get update first). Needs root or sudo.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The main job on the embedded SQLite default.
run: build
	./$(BUILD)/stargap demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# AddressSanitizer + UndefinedBehaviorSanitizer build and tests.
asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSTARGAP_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

bench: build
	@echo "benchmarks: see bench/README.md"

clean:
	rm -rf $(BUILD) build-asan

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
