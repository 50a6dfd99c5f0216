# kernels/cuda.mk — the CUDA backend (docs/cuda.md), included by the Makefile
# after its `all:` line.
#
#   make CUDA=1   kernels/*.cu built with nvcc into bin/deepseek-r1 (the
#                 default when nvcc is found, on the PATH or in /usr/local/cuda)
#   make CUDA=0   no CUDA: kernels/cuda_none.c, whose backend is never available
#   make cuda-tests       build/test/test_cuda, bench_cuda (CUDA=1) and
#                         test_cuda_emul (always; it needs no GPU)
#   make test-cuda-emul   run test_cuda_emul
#
# Gives the Makefile CUDA_OBJ and CUDA_LDLIBS for bin/deepseek-r1's link;
# nothing else links CUDA.  cudart is linked statically and cuBLAS
# dynamically (found through an rpath); neither is the driver library
# libcuda, which cudart loads at run time, so the program starts on a
# machine without the NVIDIA driver and reports "no GPU" there.

NVCC ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
CUDA ?= $(if $(NVCC),1,0)

# the program's front end includes kernels/cuda_backend.h
ENGINE_CFLAGS += -Ikernels

CUDA_TEST_DEPS := $(wildcard kernels/*.h) $(wildcard src/engine/*.h)

ifeq ($(CUDA),1)
ifeq ($(NVCC),)
$(error CUDA=1 but nvcc is not found: put it on the PATH or set NVCC)
endif

CUDA_HOME ?= $(patsubst %/bin/,%,$(dir $(NVCC)))
CUDA_LIBDIR ?= $(firstword $(wildcard $(CUDA_HOME)/lib64 $(CUDA_HOME)/lib))
CUDA_GENCODE ?= -gencode arch=compute_80,code=sm_80 \
	-gencode arch=compute_90,code=sm_90 \
	-gencode arch=compute_90,code=compute_90
NVCCFLAGS ?= -O2 -lineinfo
NVCCFLAGS += -std=c++17 $(CUDA_GENCODE) -Xcompiler -fPIC,-Wall,-Wextra -Isrc/engine -Isrc/protocol -Ikernels

CUDA_SRC := $(filter-out kernels/cuda_testing.cu,$(wildcard kernels/*.cu))
CUDA_OBJ := $(CUDA_SRC:kernels/%.cu=$(BUILD)/kernels/%.o)
CUDA_LDLIBS := -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -lcublas -lcudart_static -ldl -lrt -lstdc++

$(BUILD)/kernels/%.o: kernels/%.cu $(wildcard kernels/*.h kernels/*.cuh) $(wildcard src/engine/*.h)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c -o $@ $<

CUDA_TEST_LINK = $(CUDA_OBJ) $(BUILD)/libdr1engine.a $(ENGINE_LDLIBS) $(CUDA_LDLIBS)

$(BUILD)/test/test_cuda: test/gpu/test_cuda.c $(CUDA_OBJ) $(BUILD)/kernels/cuda_testing.o \
		$(BUILD)/libdr1engine.a test/unit/check.h kernels/cuda_testing.h kernels/cuda_backend.h
	@mkdir -p $(dir $@)
	$(CC) $(ENGINE_CFLAGS) -Itest/unit -o $@ $< $(BUILD)/kernels/cuda_testing.o $(CUDA_TEST_LINK)

$(BUILD)/test/bench_cuda: test/gpu/bench_cuda.c $(CUDA_OBJ) $(BUILD)/libdr1engine.a kernels/cuda_backend.h
	@mkdir -p $(dir $@)
	$(CC) $(ENGINE_CFLAGS) -I$(CUDA_HOME)/include -o $@ $< $(CUDA_TEST_LINK)

CUDA_TEST_BIN := $(BUILD)/test/test_cuda $(BUILD)/test/bench_cuda
else
CUDA_OBJ := $(BUILD)/kernels/cuda_none.o
CUDA_LDLIBS :=
CUDA_TEST_BIN :=

$(BUILD)/kernels/cuda_none.o: kernels/cuda_none.c kernels/cuda_backend.h src/engine/backend.h
	@mkdir -p $(dir $@)
	$(CC) $(ENGINE_CFLAGS) -c -o $@ $<
endif

$(BUILD)/test/test_cuda_emul: test/gpu/test_cuda_emul.c $(BUILD)/libdr1engine.a $(CUDA_TEST_DEPS) \
		test/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(ENGINE_CFLAGS) -Itest/unit -o $@ $< $(BUILD)/libdr1engine.a $(ENGINE_LDLIBS)

.PHONY: cuda-tests test-cuda-emul
cuda-tests: $(CUDA_TEST_BIN) $(BUILD)/test/test_cuda_emul

test-cuda-emul: $(BUILD)/test/test_cuda_emul
	$(BUILD)/test/test_cuda_emul
