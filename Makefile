# idflow — plain GNU Makefile.
#
#   make            build ./idflow (installs missing Debian packages first)
#   make test       build and run every test suite; last line "N passed, M failed"
#                   (tests/pg/run.sh: a throwaway PostgreSQL cluster and the suites run against it)
#   make asan       the same suite under AddressSanitizer + UBSan (build-asan/), with
#                   the invariant checks of core/invariant.h compiled in (INVARIANTS=1)
#   make demo       the sandbox, the server and the shipped workflows, with a report
#   make bench      the benchmarks in bench/
#   make peers      idflow against Node-RED (bench/peers.sh; installs wrk and Node-RED)
#   make fmt | tidy | cppcheck    style and static checks
#
# Warnings are errors everywhere (-Wall -Wextra -Werror). -Wno-format-truncation:
# messages are cut with snprintf on purpose (error and log buffers are fixed-size).

BUILD   ?= build
CC      ?= cc
PKGS    := libmicrohttpd libcurl jansson yaml-0.1 sqlite3 libsodium oniguruma libcrypto libpq zlib
OPT     ?= -O2
SAN     ?=
INVARIANTS ?=
CFLAGS  ?=
CFLAGS  += -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -Wno-missing-field-initializers -Wno-format-truncation \
           -Wshadow -Wstrict-prototypes -Wformat=2 -fno-strict-aliasing \
           -D_GNU_SOURCE -Isrc $(SAN) $(if $(INVARIANTS),-DIDF_INVARIANTS)
LDLIBS  += -ljq -lpthread -lm
LDFLAGS += $(SAN)

SETUP_STAMP := $(BUILD)/.setup-ok

SRC_ALL  := $(shell find src -name '*.c' | sort)
SRC_MAIN := src/main.c
SRC_LIB  := $(filter-out $(SRC_MAIN),$(SRC_ALL))
OBJ_LIB  := $(SRC_LIB:%.c=$(BUILD)/%.o)

TEST_SUPPORT := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJ := $(TEST_SUPPORT:%.c=$(BUILD)/%.o)
# built through pattern rules only, so make would delete them as intermediates after each run
.SECONDARY: $(TEST_SUPPORT_OBJ)
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c tests/integration/test_*.c))
TEST_BIN := $(TEST_SRC:%.c=$(BUILD)/%)
# The PostgreSQL backend's own tests need a server: tests/pg/run.sh starts one
# and runs them (with the contract suites against it), so they are not in TEST_BIN.
PG_TEST_SRC := $(sort $(wildcard tests/pg/test_*.c))
PG_TEST_BIN := $(PG_TEST_SRC:%.c=$(BUILD)/%)

BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:%.c=$(BUILD)/%)

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

.PHONY: all test asan demo bench peers fmt tidy cppcheck clean setup
all: idflow

setup $(SETUP_STAMP): scripts/setup.sh
	@bash scripts/setup.sh --build-only
	@mkdir -p $(BUILD) && touch $(SETUP_STAMP)

$(BUILD)/%.o: %.c | $(SETUP_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

# src/ui/assets.c embeds every other file of src/ui/ with .incbin, which -MMD cannot see.
$(BUILD)/src/ui/assets.o: $(filter-out %.c %.h,$(wildcard src/ui/*))
# src/connectors/okta/eligible.c embeds Okta's list of hook-eligible event types the same way.
$(BUILD)/src/connectors/okta/eligible.o: src/connectors/okta/event-hook-eligible.txt

$(BUILD)/libidflow.a: $(OBJ_LIB)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/idflow: $(BUILD)/src/main.o $(BUILD)/libidflow.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

idflow: $(BUILD)/idflow
	@if [ "$(BUILD)" = "build" ]; then cp $(BUILD)/idflow ./idflow; fi

$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT_OBJ) $(BUILD)/libidflow.a | $(SETUP_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests -MMD -MP -o $@ $< $(TEST_SUPPORT_OBJ) $(BUILD)/libidflow.a \
	  $(LDFLAGS) $(PKG_LIBS) -lcmocka $(LDLIBS)

$(BUILD)/tests/support/%.o: tests/support/%.c | $(SETUP_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests -MMD -MP -c $< -o $@

$(BUILD)/bench/%: bench/%.c $(wildcard bench/*.h) $(TEST_SUPPORT_OBJ) $(BUILD)/libidflow.a | $(SETUP_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests -o $@ $< $(TEST_SUPPORT_OBJ) $(BUILD)/libidflow.a \
	  $(LDFLAGS) $(PKG_LIBS) $(LDLIBS)

# bench/peers.sh's loopback ticket stub: libmicrohttpd only (not one of
# BENCH_BIN, which make bench runs: it serves until stopped).
$(BUILD)/bench/peers/ticketstub: bench/peers/ticketstub.c | $(SETUP_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libmicrohttpd) -o $@ $< $(LDFLAGS) $(shell pkg-config --libs libmicrohttpd)

test: $(BUILD)/idflow $(TEST_BIN) $(PG_TEST_BIN)
	@bash scripts/setup.sh
	@IDFLOW_BIN=$(abspath $(BUILD)/idflow) IDFLOW_SRC=$(CURDIR) bash tests/run.sh $(TEST_BIN) tests/conformance/run.sh tests/e2e/run.sh \
	  tests/pg/run.sh

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 INVARIANTS=1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

bench: $(BUILD)/idflow $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; IDFLOW_BIN=$(abspath $(BUILD)/idflow) $$b || exit 1; done

# make peers: PEERS_ROUNDS, PEERS_SECONDS, PEERS_CONC, ... (see bench/peers.sh)
peers: $(BUILD)/idflow $(BUILD)/bench/peers/ticketstub
	@IDFLOW_BIN=$(abspath $(BUILD)/idflow) bash bench/peers.sh

# make demo: keeps serving after the report until Ctrl-C; DEMO_ONCE=1 exits after it
# (approving the waiting run itself); DEMO_DIR=DIR keeps the demo's database there
# (default: a new folder it names), DEMO_LISTEN=HOST:PORT is where it serves.
demo: idflow
	@bash scripts/setup.sh --build-only
	./idflow demo $(if $(DEMO_ONCE),--once) $(if $(DEMO_DIR),--dir '$(DEMO_DIR)') $(if $(DEMO_LISTEN),--listen '$(DEMO_LISTEN)')

fmt:
	clang-format -i $(SRC_ALL) $(wildcard src/*/*.h src/*/*/*.h tests/*/*.c tests/*/*.h bench/*.c)

tidy:
	clang-tidy $(SRC_ALL) -- $(CFLAGS) $(PKG_CFLAGS)

cppcheck:
	cppcheck --quiet --enable=warning,performance,portability --error-exitcode=1 \
	  --suppress=missingIncludeSystem --include=/usr/include/jansson.h -Isrc src

clean:
	rm -rf build build-asan idflow

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
