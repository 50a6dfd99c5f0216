/*
 * alloc.h — the engine's checked allocator, for memory that cannot fail
 * gracefully.
 *
 * The engine's allocation rule (docs/architecture.md, "One allocation
 * rule"): an allocation whose size a file or a setting chooses (a GGUF's
 * counts, the vocabulary, the weights, the KV pool, the scheduler's batch,
 * the choices of a request) is checked where it is made, and failure is an
 * error message up the stack (error.h).  Every other allocation (the working
 * memory of operations that have no other way to fail: containers growing
 * while text is encoded, split, rendered or decoded; state proportional to
 * what is already loaded) goes through these functions, which never return
 * NULL: out of memory, they write one line to stderr and abort the process.
 */
#ifndef DR1_ALLOC_H
#define DR1_ALLOC_H

#include <stddef.h>

void	   *xmalloc(size_t n);
void	   *xcalloc(size_t n, size_t size);
void	   *xrealloc(void *p, size_t n);
char	   *xstrdup(const char *s);

/*
 * The array p of *cap elements of elem bytes, grown (by doubling, from 16)
 * to hold at least need; *cap is updated.  Returns p itself when it is big
 * enough already.
 */
void	   *xgrow(void *p, size_t *cap, size_t need, size_t elem);

#endif
