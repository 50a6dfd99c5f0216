/*
 * token_list.h — a growable array of token ids.
 */
#ifndef DR1_TOKEN_LIST_H
#define DR1_TOKEN_LIST_H

#include <stddef.h>
#include <stdint.h>

struct token_list
{
	int32_t    *ids;
	size_t		n;
	size_t		cap;
};

/* Grows with the checked allocator (alloc.h): cannot fail. */
void		token_list_push(struct token_list *l, int32_t id);
void		token_list_free(struct token_list *l);

#endif
