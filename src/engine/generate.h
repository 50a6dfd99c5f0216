/*
 * generate.h — one request run to completion: a scheduler of one sequence
 * (scheduler.h) is made, the request submitted and stepped until it is done.
 * The request's parameters and result are gen_request.h's.
 */
#ifndef DR1_GENERATE_H
#define DR1_GENERATE_H

#include "forward.h"
#include "gen_request.h"

int			generate(struct infer_ctx *ic, const struct token_list *prompt,
					 const struct gen_params *p, struct gen_result *r, char *err);

#endif
