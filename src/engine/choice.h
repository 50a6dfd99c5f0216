/*
 * choice.h — constrained choice: the output must be exactly one of a list
 * of strings.
 *
 * Each choice is tokenized; at each step only tokens that continue some
 * choice whose prefix matches what was generated are allowed, and the end
 * token is allowed once a choice is complete.  The scheduler turns the
 * allowed set into the sampler's mask (sampler_sample's allowed).
 */
#ifndef DR1_CHOICE_H
#define DR1_CHOICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct choice_set;
struct tokenizer;

struct choice_set *choice_set_new(const struct tokenizer *t, const char *const *choices,
								  size_t n, char *err);
void		choice_set_free(struct choice_set *c);

/* The same from choices already tokenized: ids[i][0..lens[i]) is choice i,
 * every id in [0, n_vocab).  choice_set_new tokenizes and calls this. */
struct choice_set *choice_set_from_ids(const int32_t *const *ids, const size_t *lens,
									   size_t n, int32_t n_vocab, char *err);

/* Fill allowed[n_vocab] for the next token after generated[0..n).  Returns
 * false when the generation must stop (a choice is complete and no longer
 * choice continues it, or nothing matches). eog is the token allowed to end. */
bool		choice_set_allowed(const struct choice_set *c, const int32_t *generated, size_t n,
							   int32_t eog, bool *allowed);

#endif
