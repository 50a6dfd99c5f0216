/*
 * generate.h — requests run to completion: a scheduler (scheduler.h) is
 * made, the requests submitted and stepped until they are done.  The
 * parameters and results are gen_request.h's.
 */
#ifndef DR1_GENERATE_H
#define DR1_GENERATE_H

#include "forward.h"
#include "gen_request.h"

int			generate(struct infer_ctx *ic, const struct token_list *prompt,
					 const struct gen_params *p, struct gen_result *r, char *err);

/* n requests on the same prompt, decoded together (one batch a step, the
 * prompt's blocks shared), p[i] giving r[i].  Every result is filled in,
 * even when one fails (-1, err: the first failure). */
int			generate_many(struct infer_ctx *ic, const struct token_list *prompt,
						  const struct gen_params *p, size_t n, struct gen_result *r, char *err);

#endif
