/*
 * token_list.c — a growable array of token ids (see token_list.h).
 */
#include "token_list.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

void
token_list_push(struct token_list *l, int32_t id)
{
	l->ids = xgrow(l->ids, &l->cap, l->n + 1, sizeof *l->ids);
	l->ids[l->n++] = id;
}

void
token_list_free(struct token_list *l)
{
	free(l->ids);
	memset(l, 0, sizeof *l);
}
