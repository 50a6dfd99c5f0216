# deepseek_r1 — build of the engine, the deepseek-r1 program and the tests.
#
#   make            bin/deepseek-r1
#   make test-unit  build and run the engine unit tests
#
# Portable flags only: the fast kernels pick their instruction set at run
# time, so the binary travels between machines.

CC       ?= cc
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -fPIC -pthread -Isrc/engine
LDLIBS   += -lutf8proc -lm -pthread

BUILD    := build
ENGINE_SRC := $(wildcard src/engine/*.c)
ENGINE_OBJ := $(ENGINE_SRC:src/engine/%.c=$(BUILD)/engine/%.o)
CLI_SRC  := $(wildcard src/cli/*.c)
CLI_OBJ  := $(CLI_SRC:src/cli/%.c=$(BUILD)/cli/%.o)
UNIT_SRC := $(wildcard test/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:test/unit/%.c=$(BUILD)/test/%)

.PHONY: all clean unit-tests test-unit
all: bin/deepseek-r1

$(BUILD)/engine/%.o: src/engine/%.c $(wildcard src/engine/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/cli/%.o: src/cli/%.c $(wildcard src/engine/*.h src/cli/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libdr1engine.a: $(ENGINE_OBJ)
	rm -f $@
	ar rcs $@ $^

bin/deepseek-r1: $(CLI_OBJ) $(BUILD)/libdr1engine.a
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libdr1engine.a $(LDLIBS)

$(BUILD)/test/%: test/unit/%.c $(BUILD)/libdr1engine.a test/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itest/unit -o $@ $< $(BUILD)/libdr1engine.a $(LDLIBS)

unit-tests: $(UNIT_BIN)

test-unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do $$t || exit 1; done

clean:
	rm -rf $(BUILD) bin
