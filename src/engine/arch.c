/*
 * arch.c — the table of supported architectures.
 */
#include "arch.h"

#include <string.h>

static const struct arch_info arch_table[] = {
	{"llama", false, ROPE_ADJACENT, 10000.0f, false},
	{"qwen2", true, ROPE_NEOX, 10000.0f, false},
	{"bert", true, ROPE_NEOX, 10000.0f, true},	/* no RoPE: the rope fields are unused */
};

const struct arch_info *
arch_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof arch_table / sizeof arch_table[0]; i++)
		if (strlen(arch_table[i].name) == len && memcmp(arch_table[i].name, name, len) == 0)
			return &arch_table[i];
	return NULL;
}
