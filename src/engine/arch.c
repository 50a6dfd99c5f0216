/*
 * arch.c — the table of supported architectures.
 */
#include "arch.h"

#include <string.h>

/* name, qkv_bias, qk_norm, mla, gpu, rope, default_rope_base, encoder */
static const struct arch_info arch_table[] = {
	{"llama", false, false, false, true, ROPE_ADJACENT, 10000.0f, false},
	{"qwen2", true, false, false, true, ROPE_NEOX, 10000.0f, false},
	{"qwen3", false, true, false, false, ROPE_NEOX, 10000.0f, false},
	/* llama.cpp rotates deepseek2's RoPE part in adjacent pairs, unpermuted */
	{"deepseek2", false, false, true, false, ROPE_ADJACENT, 10000.0f, false},
	{"bert", true, false, false, false, ROPE_NEOX, 10000.0f, true},	/* no RoPE: the rope fields are unused */
};

const struct arch_info *
arch_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof arch_table / sizeof arch_table[0]; i++)
		if (strlen(arch_table[i].name) == len && memcmp(arch_table[i].name, name, len) == 0)
			return &arch_table[i];
	return NULL;
}
