/*
 * qblocks.h — the block layouts of the GGUF quantized types, as the file
 * stores them (and llama.cpp's ggml-common.h defines them): what dtype.c
 * sizes and the kernels of quant.h read.
 */
#ifndef DR1_QBLOCKS_H
#define DR1_QBLOCKS_H

#include <stdint.h>

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef uint16_t f16_t;

struct block_q4_0 { f16_t d; uint8_t qs[QK4_0 / 2]; };
struct block_q4_1 { f16_t d; f16_t m; uint8_t qs[QK4_1 / 2]; };
struct block_q5_0 { f16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; };
struct block_q5_1 { f16_t d; f16_t m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; };
struct block_q8_0 { f16_t d; int8_t qs[QK8_0]; };
struct block_q8_1 { f16_t d; f16_t s; int8_t qs[QK8_1]; };	/* s = d * sum(qs) */
struct block_q4_K { f16_t d; f16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; };
struct block_q5_K { f16_t d; f16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
struct block_q6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; f16_t d; };
struct block_q8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };

#endif
