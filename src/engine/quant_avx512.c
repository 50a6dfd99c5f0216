/*
 * quant_avx512.c — the kernels of quant_avx2.c built for CPUs with
 * AVX-512 (F, BW, VL) and VNNI: the same source, so the same float steps in
 * the same order, with a wider target (see quant_avx2.c).
 */
#define QUANT_AVX512
#include "quant_avx2.c"
