# deepseek_r1 — the PostgreSQL extension, the deepseek-r1 program (the
# engine process and the command-line tool) and the tests.
#
#   make               bin/deepseek-r1 and, where pg_config is found, the module
#   make install       the module, the SQL files and bin/deepseek-r1 (into the
#                      server's bindir, where the worker looks for it)
#   make unit-tests    build the engine unit tests; make test-unit runs them
#   make installcheck  pg_regress in a temporary instance (SmolLM2 model)
#   make clean
#
# The engine is built with its own flags (ENGINE_CFLAGS) and goes only into
# the program: the module holds no thread, no CUDA and no engine object.
# Portable flags only: the fast kernels pick their instruction set at run
# time, so the binary travels between machines.

ENGINE_CFLAGS ?= -O2 -g
ENGINE_CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -fPIC -pthread -Isrc/engine -Isrc/protocol
ENGINE_LDLIBS := -lutf8proc -lm -pthread

BUILD    := build
ENGINE_SRC := $(wildcard src/engine/*.c)
ENGINE_OBJ := $(ENGINE_SRC:src/engine/%.c=$(BUILD)/engine/%.o)
CLI_SRC  := $(wildcard src/cli/*.c)
CLI_OBJ  := $(CLI_SRC:src/cli/%.c=$(BUILD)/cli/%.o)
# the wire format: linked into both the program and the module
PROTO_SRC := $(wildcard src/protocol/*.c)
PROTO_OBJ := $(PROTO_SRC:src/protocol/%.c=$(BUILD)/protocol/%.o)
UNIT_SRC := $(wildcard test/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:test/unit/%.c=$(BUILD)/test/%)
DR1_MODEL_CACHE ?= $(HOME)/.cache/deepseek_r1/models

.PHONY: all clean unit-tests test-unit
all: bin/deepseek-r1
include kernels/cuda.mk

PG_CONFIG ?= pg_config
ifneq ($(shell command -v $(PG_CONFIG) 2>/dev/null),)
MODULE_big   = deepseek_r1
OBJS         = $(patsubst %.c,%.o,$(wildcard src/pg/*.c) $(PROTO_SRC))
EXTENSION    = deepseek_r1 deepseek_r1_vector
DATA         = sql/deepseek_r1--0.1.0.sql sql/deepseek_r1_vector--0.1.0.sql
SCRIPTS_built = bin/deepseek-r1
# the module refuses device=cuda unless the program is built with CUDA (kernels/cuda.mk)
PG_CPPFLAGS  = -Isrc/protocol $(if $(filter 1,$(CUDA)),-DDR1_HAVE_CUDA)
REGRESS      = deepseek_r1
REGRESS_OPTS = --temp-instance=$(BUILD)/regress-instance --temp-config=$(BUILD)/regress.conf
EXTRA_CLEAN  = $(BUILD) bin results regression.diffs regression.out
override with_llvm = no
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): $(wildcard src/pg/*.h src/protocol/*.h)

# the temporary instance preloads the module and serves SmolLM2
$(BUILD)/regress.conf: FORCE
	@mkdir -p $(BUILD)
	printf "shared_preload_libraries = 'deepseek_r1'\ndeepseek_r1.model = '%s'\ndeepseek_r1.threads = 2\n" \
		"$(DR1_MODEL_CACHE)/SmolLM2-135M-Instruct-Q4_1.gguf" > $@
installcheck: $(BUILD)/regress.conf
.PHONY: FORCE
FORCE:
else
clean:
	rm -rf $(BUILD) bin
endif

$(BUILD)/engine/%.o: src/engine/%.c $(wildcard src/engine/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ENGINE_CFLAGS) -c -o $@ $<

# the AVX-512 kernels are quant_avx2.c built for a wider target
$(BUILD)/engine/quant_avx512.o: src/engine/quant_avx2.c

$(BUILD)/cli/%.o: src/cli/%.c $(wildcard src/engine/*.h src/cli/*.h src/protocol/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ENGINE_CFLAGS) -c -o $@ $<

$(BUILD)/protocol/%.o: src/protocol/%.c $(wildcard src/protocol/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ENGINE_CFLAGS) -c -o $@ $<

$(BUILD)/libdr1engine.a: $(ENGINE_OBJ)
	rm -f $@
	ar rcs $@ $^

bin/deepseek-r1: $(CLI_OBJ) $(PROTO_OBJ) $(CUDA_OBJ) $(BUILD)/libdr1engine.a
	@mkdir -p bin
	$(CC) $(ENGINE_CFLAGS) -o $@ $(CLI_OBJ) $(PROTO_OBJ) $(CUDA_OBJ) $(BUILD)/libdr1engine.a $(ENGINE_LDLIBS) $(CUDA_LDLIBS)

$(BUILD)/test/%: test/unit/%.c $(BUILD)/libdr1engine.a $(PROTO_OBJ) test/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(ENGINE_CFLAGS) -Itest/unit -o $@ $< $(PROTO_OBJ) $(BUILD)/libdr1engine.a $(ENGINE_LDLIBS)

# the option parsers are the program's (src/cli), not the engine's
CLI_OPTIONS_OBJ := $(BUILD)/cli/options.o $(BUILD)/cli/cli_util.o
$(BUILD)/test/test_cli_options: test/unit/test_cli_options.c $(CLI_OPTIONS_OBJ) $(BUILD)/libdr1engine.a test/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(ENGINE_CFLAGS) -Itest/unit -Isrc/cli -o $@ $< $(CLI_OPTIONS_OBJ) $(BUILD)/libdr1engine.a $(ENGINE_LDLIBS)

unit-tests: $(UNIT_BIN)

test-unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do $$t || exit 1; done
