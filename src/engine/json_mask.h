/*
 * json_mask.h — schema-constrained decoding: which tokens may come next.
 *
 * A json_grammar is a compiled schema over a vocabulary trie; it may be
 * shared by many requests (the scheduler shares one per schema text), each
 * keeping its own json_state.  The allowed tokens for a state are every
 * token whose bytes the automaton (json_machine.h) reads without refusal,
 * plus the end token once the value is complete.  They are found by one
 * walk of the trie that stops at the first refused byte of a branch and
 * takes whole branches of plain string text at once, and are cached by
 * state: structure and free-string states repeat, so most steps are a
 * lookup.
 */
#ifndef DR1_JSON_MASK_H
#define DR1_JSON_MASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_machine.h"

struct json_grammar;
struct tokenizer;
struct vocab_trie;

/* Compile schema_text (json_schema.h) for the trie's vocabulary.  NULL with
 * the compiler's message. */
struct json_grammar *json_grammar_new(const char *schema_text, size_t len,
									  const struct vocab_trie *trie, char *err);
void		json_grammar_free(struct json_grammar *g);

const struct json_schema *json_grammar_schema(const struct json_grammar *g);

/* Fill allowed[n_vocab] for the next token in state st; eos is allowed when
 * the value is complete.  Returns the number of tokens allowed. */
size_t		json_grammar_allowed(struct json_grammar *g, const struct json_state *st,
								 int32_t eos, bool *allowed);

/* Advance st over the bytes of token id; false when they are refused. */
bool		json_grammar_advance(const struct json_grammar *g, struct json_state *st,
								 const struct tokenizer *tok, int32_t id);

/* Masks computed (cache misses) and looked up, for tests and benchmarks. */
void		json_grammar_counts(const struct json_grammar *g, int64_t *walks, int64_t *hits);

#endif
