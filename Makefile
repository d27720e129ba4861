# cprof - one non-recursive Makefile.
#
#   make            build build/libcprof.so (installs missing build packages)
#   make test       every test; ends with "N passed, N failed"
#   make demo       build, run the demo programs, show their profiles
#   make stress     the longer stress suite
#   make bench      overhead and accuracy benchmarks (writes docs/performance.md)
#   make install PREFIX=/usr/local
#   make check-exports   the library exports only the interposed symbols and the API
#
# V=1 shows the commands; WERROR= builds without -Werror (for packagers);
# SANITIZE=address,undefined builds an instrumented library in build-san/;
# WITNESS=-DCPROF_WITNESS checks the lock rules in any build.

# The version, here only: the library (profile comments) and cprof-ctl
# (`cprof --version`) are built with it.
VERSION := 0.1

V ?= 0
Q := $(if $(filter 1,$(V)),,@)
CC ?= cc
PYTHON ?= /usr/bin/python3
PREFIX ?= /usr/local
DESTDIR ?=

# Sanitizer builds also check cprof's lock rules on every acquisition
# (preload/base/lock.h, the witness).
ifdef SANITIZE
BUILD ?= build-san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
WITNESS ?= -DCPROF_WITNESS
else
BUILD ?= build
SANFLAGS :=
endif

WERROR ?= -Werror
OPT ?= -O2
GEN := $(BUILD)/gen

# Flags for code that runs inside someone else's process: position
# independent, nothing exported by default, initial-exec TLS (no allocation
# on first access), calls inside the library bound locally, frame pointers
# (the fp unwinder walks cprof's own frames), unwind tables (C++ exceptions
# cross the operator new wrappers).
CFLAGS_LIB := -std=gnu11 $(OPT) -g -fPIC -fvisibility=hidden -fno-semantic-interposition \
	-ftls-model=initial-exec -fno-omit-frame-pointer -fasynchronous-unwind-tables \
	-fno-strict-aliasing -D_GNU_SOURCE -DCPROF_VERSION='"$(VERSION)"' $(SANFLAGS) $(WITNESS)
WARN := -Wall -Wextra -Wshadow -Wno-unused-parameter $(WERROR)
LDFLAGS_LIB := -shared -Wl,-z,now -Wl,-z,relro -Wl,-z,nodelete -Wl,--no-undefined -Wl,-z,start-stop-visibility=hidden \
	-Wl,--exclude-libs,ALL $(SANFLAGS)
LIBS := -lprotobuf-c -lz -lm -ldl -lpthread -liberty

# The layers, bottom first (docs/architecture.md).  A layer's files see
# only their own layer's headers and those below: each gets its own
# include path, so an upward #include does not compile, and
# scripts/check-layers.sh fails the link on an upward symbol reference.
LAYERS := preload/base preload/core encoder preload/control hooks
layer_inc = $(foreach l,$(wordlist 1,$(1),$(LAYERS)),-I$(l))
INC_preload/base := $(call layer_inc,1)
INC_preload/core := $(call layer_inc,2)
INC_encoder := $(call layer_inc,3) -I$(GEN)
INC_preload/control := $(call layer_inc,4) -I$(GEN)
INC_hooks := $(call layer_inc,5) -I$(GEN)
INC_ALL := $(INC_hooks)
INC_scripts := $(INC_ALL)   # cprof-ctl: the command's C half, above the library

LIB_SRC := $(sort $(foreach l,$(LAYERS),$(wildcard $(l)/*.c)))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/profile.pb-c.o
LIB := $(BUILD)/libcprof.so
# The cprof command's C half (scripts/cprof-ctl.c), linked with the library's
# own configuration and message objects.
CTL := $(BUILD)/cprof-ctl
CTL_OBJ := $(BUILD)/obj/scripts/cprof-ctl.o $(BUILD)/obj/preload/base/config.o $(BUILD)/obj/preload/base/log.o

.DELETE_ON_ERROR:

all: $(LIB) $(CTL)

.PHONY: all deps test-deps test stress bench demo install clean check-exports check-layers unit test-san fuzz progs pprof

# ---- dependencies (Debian) ----------------------------------------------------
$(BUILD)/.deps-build: scripts/deps.sh
	$(Q)mkdir -p $(BUILD)
	$(Q)sh scripts/deps.sh build
	$(Q)touch $@

deps: $(BUILD)/.deps-build

# Targets that need more than the build install their packages first, in
# their own recipe, before make builds anything (a prerequisite list gives
# no order under -j).
test-deps:
	$(Q)sh scripts/deps.sh test

# ---- generated protobuf-c code ----------------------------------------------
$(GEN)/profile.pb-c.c $(GEN)/profile.pb-c.h: encoder/profile.proto | $(BUILD)/.deps-build
	@echo "  PROTOC  $<"
	$(Q)mkdir -p $(GEN)
	$(Q)protoc-c --proto_path=encoder --c_out=$(GEN) encoder/profile.proto

# Generated code keeps its own (lenient) warnings.
$(BUILD)/obj/gen/profile.pb-c.o: $(GEN)/profile.pb-c.c
	@echo "  CC      $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_LIB) $(INC_ALL) -w -c $< -o $@

$(BUILD)/obj/%.o: %.c $(GEN)/profile.pb-c.h | $(BUILD)/.deps-build
	@echo "  CC      $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_LIB) $(INC_$(patsubst %/,%,$(dir $<))) $(WARN) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)sh scripts/check-layers.sh "$(LAYERS)" $(LIB_OBJ)
	$(Q)$(CC) $(LDFLAGS_LIB) -o $@ $(LIB_OBJ) $(LIBS)
	$(Q)sh scripts/check-exports.sh $@

check-layers: $(LIB_OBJ)
	$(Q)sh scripts/check-layers.sh "$(LAYERS)" $(LIB_OBJ)

$(CTL): $(CTL_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(SANFLAGS) -o $@ $(CTL_OBJ) -ldl

# A new VERSION rebuilds what prints it.
$(BUILD)/obj/encoder/profiles.o $(BUILD)/obj/scripts/cprof-ctl.o: Makefile

check-exports: $(LIB)
	$(Q)sh scripts/check-exports.sh $(LIB)

-include $(LIB_OBJ:.o=.d) $(BUILD)/obj/scripts/cprof-ctl.d

# ---- tests -------------------------------------------------------------------
# Unit tests include the module sources they test (one translation unit
# each) and link nothing from the library, so they never interpose malloc.
UNIT_SRC := $(sort $(wildcard test/unit/*.c))
UNIT_BIN := $(UNIT_SRC:test/unit/%.c=$(BUILD)/test/unit/%)
CFLAGS_TEST := -std=gnu11 -O1 -g -D_GNU_SOURCE $(INC_ALL) -Itest/unit \
	-Wall -Wextra -Wno-unused-parameter -Wno-unused-function $(SANFLAGS)

$(BUILD)/test/unit/%: test/unit/%.c $(GEN)/profile.pb-c.h
	@echo "  CC      $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_TEST) -MMD -MP $< -o $@ $(LIBS) $(SANFLAGS)

-include $(UNIT_BIN:=.d)

unit: $(UNIT_BIN)

# Test programs (ground truth, demos, stress subjects).
PROG_C := $(sort $(filter-out test/progs/lib%.c,$(wildcard test/progs/*.c)))
PROG_LIB := $(patsubst test/progs/%.c,$(BUILD)/test/progs/%.so,$(sort $(wildcard test/progs/lib*.c))) \
	$(patsubst test/progs/%.cc,$(BUILD)/test/progs/%.so,$(sort $(wildcard test/progs/lib*.cc)))
PROG_CXX := $(sort $(filter-out test/progs/lib%.cc,$(wildcard test/progs/*.cc)))
# Rust programs (Rust's locks call futexes directly): built with Debian's
# rustc, which `make test` installs (scripts/deps.sh test); without it they
# are left out and their tests skip.
RUSTC ?= /usr/bin/rustc
PROG_RS := $(if $(wildcard $(RUSTC)),$(patsubst test/progs/%.rs,$(BUILD)/test/progs/%,$(sort $(wildcard test/progs/*.rs))))
PROG_BIN := $(PROG_C:test/progs/%.c=$(BUILD)/test/progs/%) $(PROG_CXX:test/progs/%.cc=$(BUILD)/test/progs/%) $(PROG_LIB) \
	$(PROG_RS)
CFLAGS_PROG := -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -fno-inline-functions -pthread -Wall -Wno-unused-result \
	-I$(BUILD)/include

# The public header (labels), where `make install` puts it: programs
# include <cprof.h> and need nothing else from cprof to build.
PUBLIC_H := $(BUILD)/include/cprof.h
$(PUBLIC_H): preload/base/cprof.h
	$(Q)mkdir -p $(dir $@)
	$(Q)cp $< $@

$(BUILD)/test/progs/%: test/progs/%.c $(PUBLIC_H)
	@echo "  CC      $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 $(CFLAGS_PROG) $< -o $@ -ldl -lm

$(BUILD)/test/progs/lib%.so: test/progs/lib%.c
	@echo "  CC      $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 $(CFLAGS_PROG) -shared -fPIC $< -o $@

# C++ plugins: shared objects linked with libstdc++, for C hosts that
# dlopen them (cxx_plugin_host) and are not linked with it themselves.
$(BUILD)/test/progs/lib%.so: test/progs/lib%.cc
	@echo "  CXX     $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CXX) -std=gnu++17 $(CFLAGS_PROG) -shared -fPIC $< -o $@

# Linked with libearly.so, whose constructor runs before cprof's.
$(BUILD)/test/progs/early_threads: test/progs/early_threads.c $(BUILD)/test/progs/libearly.so
	@echo "  CC      $<"
	$(Q)$(CC) -std=gnu11 $(CFLAGS_PROG) $< -o $@ -L$(BUILD)/test/progs -learly '-Wl,-rpath,$$ORIGIN'

# Linked with libearlynew.so (C++), whose constructor allocates before cprof's.
$(BUILD)/test/progs/early_heap: test/progs/early_heap.c $(BUILD)/test/progs/libearlynew.so
	@echo "  CC      $<"
	$(Q)$(CC) -std=gnu11 $(CFLAGS_PROG) $< -o $@ -L$(BUILD)/test/progs -learlynew '-Wl,-rpath,$$ORIGIN'

# Linked with libleakfini.so (C++), which frees memory as it is finalised.
$(BUILD)/test/progs/leaks: test/progs/leaks.cc $(BUILD)/test/progs/libleakfini.so
	@echo "  CXX     $<"
	$(Q)$(CXX) -std=gnu++17 $(CFLAGS_PROG) $< -o $@ -L$(BUILD)/test/progs -lleakfini '-Wl,-rpath,$$ORIGIN'

# Linked with libexitwatch.so, whose exit handler runs after cprof's.
$(BUILD)/test/progs/exit_dumps: test/progs/exit_dumps.c $(BUILD)/test/progs/libexitwatch.so
	@echo "  CC      $<"
	$(Q)$(CC) -std=gnu11 $(CFLAGS_PROG) $< -o $@ -L$(BUILD)/test/progs -lexitwatch '-Wl,-rpath,$$ORIGIN'

# Linked with libotelctx.so, which defines the OpenTelemetry thread context
# variable (otel_thread_ctx_v1) as an SDK would.
$(BUILD)/test/progs/libotelctx.so: test/progs/otel_ctx_abi.h
$(BUILD)/test/progs/otel_ctx: test/progs/otel_ctx.c test/progs/label_work.h test/progs/otel_ctx_abi.h \
		$(BUILD)/test/progs/libotelctx.so $(PUBLIC_H)
	@echo "  CC      $<"
	$(Q)$(CC) -std=gnu11 $(CFLAGS_PROG) $< -o $@ -L$(BUILD)/test/progs -lotelctx '-Wl,-rpath,$$ORIGIN'

# Linked with libcustomlabels.so, which exports the custom-labels ABI.
$(BUILD)/test/progs/libcustomlabels.so: test/progs/custom_labels_abi.h
$(BUILD)/test/progs/custom_labels: test/progs/custom_labels.c test/progs/label_work.h \
		test/progs/custom_labels_abi.h $(BUILD)/test/progs/libcustomlabels.so $(PUBLIC_H)
	@echo "  CC      $<"
	$(Q)$(CC) -std=gnu11 $(CFLAGS_PROG) $< -o $@ -L$(BUILD)/test/progs -lcustomlabels '-Wl,-rpath,$$ORIGIN'

# Statically linked: cprof must notice LD_PRELOAD cannot apply to it.
$(BUILD)/test/progs/static_hello: test/progs/static_hello.c
	@echo "  CC      $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -static -O1 $< -o $@

$(BUILD)/test/progs/%: test/progs/%.cc $(PUBLIC_H)
	@echo "  CXX     $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CXX) -std=gnu++17 $(CFLAGS_PROG) $< -o $@ -ldl

$(BUILD)/test/progs/%: test/progs/%.rs
	@echo "  RUSTC   $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(RUSTC) --edition 2021 -O -g -C force-frame-pointers=yes $< -o $@

progs: $(PROG_BIN)

# pprof itself (github.com/google/pprof), built offline from Debian's
# source package (scripts/deps.sh view): `cprof view` and `cprof top` use it
# because, unlike go tool pprof's built-in object reader, it reads DWARF
# line tables through binutils, so the web UI's source view works for C,
# C++ and Rust.
PPROF := $(BUILD)/pprof
$(PPROF):
	@echo "  GO      $@"
	$(Q)mkdir -p $(BUILD)
	$(Q)GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE=$(abspath $(BUILD))/gocache \
		go build -o $@ github.com/google/pprof

pprof: $(PPROF)

test: test-deps
	$(Q)$(MAKE) --no-print-directory all unit progs pprof
	$(Q)$(PYTHON) test/run.py --build $(BUILD)

stress: test-deps
	$(Q)$(MAKE) --no-print-directory all unit progs pprof
	$(Q)$(PYTHON) test/run.py --build $(BUILD) --stress -k stress/

# The sanitizer job: the library built with UBSan (fully functional under
# LD_PRELOAD) runs the whole suite; the unit tests, which compile the
# modules directly, also run under AddressSanitizer.  (An ASan library
# cannot be preloaded usefully: ASan's runtime must come first and takes
# malloc.)
test-san: test-deps
	$(Q)$(MAKE) --no-print-directory pprof
	$(Q)$(MAKE) --no-print-directory BUILD=build-ubsan SANITIZE=undefined all unit progs
	$(Q)$(PYTHON) test/run.py --build build-ubsan
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=address,undefined unit
	$(Q)ASAN_OPTIONS=detect_leaks=0 $(PYTHON) test/run.py --build build-asan -k unit/

# Coverage-guided fuzzing of the CPROF_* parser (clang's libFuzzer).
FUZZ_SECONDS ?= 60
build-fuzz/fuzz_config: test/fuzz/fuzz_config.c preload/base/config.c preload/base/config.h preload/base/log.c
	$(Q)mkdir -p build-fuzz
	$(Q)clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ipreload/base $< -o $@

fuzz: build-fuzz/fuzz_config
	$(Q)mkdir -p build-fuzz/corpus
	$(Q)cp -n test/fuzz/corpus/* build-fuzz/corpus/ 2>/dev/null || true
	$(Q)build-fuzz/fuzz_config -max_total_time=$(FUZZ_SECONDS) -max_len=4096 build-fuzz/corpus 2>&1 | tail -4

bench:
	$(Q)sh scripts/deps.sh bench
	$(Q)$(MAKE) --no-print-directory all progs
	$(Q)$(PYTHON) bench/run.py --build $(BUILD) --no-deps

# The demo needs the library, the demo programs and pprof, not the test
# corpus.
demo:
	$(Q)sh scripts/deps.sh demo
	$(Q)$(MAKE) --no-print-directory all progs pprof
	$(Q)sh scripts/demo.sh $(BUILD)

# ---- install -------------------------------------------------------------------
install: $(LIB) $(CTL)
	$(Q)install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/lib/cprof $(DESTDIR)$(PREFIX)/include
	$(Q)install -m 0644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libcprof.so
	$(Q)install -m 0644 preload/base/cprof.h $(DESTDIR)$(PREFIX)/include/cprof.h
	$(Q)install -m 0755 $(CTL) $(DESTDIR)$(PREFIX)/lib/cprof/cprof-ctl
	$(Q)sed "s|^CPROF_LIBDIR_INSTALLED=.*|CPROF_LIBDIR_INSTALLED='$(PREFIX)/lib'|" scripts/cprof > $(DESTDIR)$(PREFIX)/bin/cprof
	$(Q)chmod 0755 $(DESTDIR)$(PREFIX)/bin/cprof
	$(Q)install -m 0644 docs/cprof.1 $(DESTDIR)$(PREFIX)/share/man/man1/cprof.1
	$(Q)if [ -x $(PPROF) ]; then install -m 0755 $(PPROF) $(DESTDIR)$(PREFIX)/lib/cprof/pprof; fi
	@echo "installed $(DESTDIR)$(PREFIX)/lib/libcprof.so, $(DESTDIR)$(PREFIX)/include/cprof.h, $(DESTDIR)$(PREFIX)/lib/cprof/cprof-ctl and $(DESTDIR)$(PREFIX)/bin/cprof"

clean:
	rm -rf build build-san build-ubsan build-asan build-fuzz
